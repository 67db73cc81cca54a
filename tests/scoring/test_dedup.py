"""Which signal ids an account remembers: a retry within the retention counts once, and an
account's memory of ids stays bounded by time and by count."""

from __future__ import annotations

import random

from services.scoring.accounts.packing import pack_account, unpack_account
from services.scoring.accounts.state import AccountState, DedupWindow, signal_key

HOUR = 3600.0


def _stream(seed: int) -> list[tuple[str, float]]:
    """Signal ids with their arrival times, in arrival order: new ids, and retries of earlier
    ones a little or a long time later."""
    rng = random.Random(seed)
    arrived, stream = 0.0, []
    for n in range(600):
        arrived += rng.expovariate(1 / rng.choice([60.0, HOUR, 6 * HOUR]))
        if stream and rng.random() < 0.3:  # a retry, mostly of something recent
            earlier = stream[-40:] if rng.random() < 0.7 else stream
            stream.append((rng.choice(earlier)[0], arrived))
        else:
            stream.append((f"e{n}", arrived))
    return stream


def test_a_retry_within_the_retention_counts_once_and_memory_stays_bounded() -> None:
    window = DedupWindow(ids=200, seconds=12 * HOUR)
    checked_retries = 0
    for seed in range(20):
        state = AccountState("acme", 0)
        counted = 0  # ids that counted so far
        counted_at: dict[str, tuple[float, int]] = {}  # id -> when it last counted, as which
        by_key: dict[int, str] = {}
        for signal_id, arrived in _stream(seed):
            fresh = state.remember(signal_id, arrived, window)
            if signal_id not in counted_at:
                assert fresh, (seed, signal_id)
            else:
                last, position = counted_at[signal_id]
                newer = counted - position - 1  # ids that counted after it
                if arrived - last < window.seconds and newer < window.ids:
                    assert not fresh, (seed, signal_id, arrived - last)
                    checked_retries += 1
            if fresh:
                counted_at[signal_id] = (arrived, counted)
                counted += 1
                by_key[signal_key(signal_id)] = signal_id
            assert len(state.seen) + len(state.seen_before) <= window.ids
            # What is kept arrived within two retention periods, the current one last.
            current = [counted_at[by_key[k]][0] for k in state.seen]
            before = [counted_at[by_key[k]][0] for k in state.seen_before]
            assert all(state.seen_since <= t < state.seen_since + window.seconds for t in current)
            assert all(t < state.seen_since for t in before)
            assert not before or max(before) - min(before) < window.seconds
        # A stored account remembers the same ids.
        copy = unpack_account("acme", 0, pack_account(state))
        assert (copy.seen, copy.seen_before, copy.seen_since) == (
            state.seen,
            state.seen_before,
            state.seen_since,
        )
    assert checked_retries > 400  # the streams hold enough retries to mean something


def test_a_quiet_account_remembers_ids_for_the_retention_not_forever() -> None:
    window = DedupWindow(ids=2000, seconds=24 * HOUR)
    state = AccountState("acme", 0)
    for day in range(30):  # three events a day for a month
        for n in range(3):
            assert state.remember(f"d{day}-{n}", day * 24 * HOUR + n * HOUR, window)
    assert 3 <= len(state.seen) + len(state.seen_before) <= 6  # a day or two, not 90
    assert not state.remember("d29-0", 29 * 24 * HOUR + 5 * HOUR, window)
    assert state.remember("d0-0", 30 * 24 * HOUR, window)  # a month late: it counts


def test_the_count_bound_forgets_the_oldest_first() -> None:
    window = DedupWindow(ids=3, seconds=24 * HOUR)
    state = AccountState("acme", 0)
    for n in range(4):
        assert state.remember(f"e{n}", n * HOUR, window)
    assert state.remember("e0", 5 * HOUR, window)  # pushed out by three newer ids
    assert not state.remember("e3", 5 * HOUR, window)


def test_the_count_bound_forgets_the_oldest_generation_first() -> None:
    window = DedupWindow(ids=3, seconds=2 * HOUR)
    state = AccountState("acme", 0)
    for signal_id, arrived in [("e0", 0.0), ("e1", HOUR), ("e2", 2.5 * HOUR), ("e3", 3 * HOUR)]:
        assert state.remember(signal_id, arrived, window)
    assert not state.remember("e1", 3 * HOUR, window)
    assert not state.remember("e2", 3 * HOUR, window)
    assert state.remember("e0", 3 * HOUR, window)
