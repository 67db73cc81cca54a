"""Which signal ids an account remembers: a retry within the window counts once, however many
ids arrive meanwhile, and an account's memory of ids stays bounded by time."""

from __future__ import annotations

import random
from typing import cast

import pytest

from harness.signals import usage
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.packing import pack_account, unpack_account
from services.scoring.accounts.state import AccountState, DedupWindow, signal_key
from services.scoring.accounts.views import usage_view
from services.scoring.scorecard.loading import load
from services.scoring.settings import ScoringSettings
from shared.contracts.signals import Signal
from shared.errors import ConfigurationError

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


def test_a_retry_within_the_window_counts_once_and_memory_stays_bounded() -> None:
    window = DedupWindow(seconds=12 * HOUR)
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
                last, _ = counted_at[signal_id]
                if arrived - last < window.seconds:
                    assert not fresh, (seed, signal_id, arrived - last)
                    checked_retries += 1
            if fresh:
                counted_at[signal_id] = (arrived, counted)
                counted += 1
                by_key[signal_key(signal_id)] = signal_id
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


def test_a_quiet_account_remembers_ids_for_the_window_not_forever() -> None:
    window = DedupWindow(seconds=24 * HOUR)
    state = AccountState("acme", 0)
    for day in range(30):  # three events a day for a month
        for n in range(3):
            assert state.remember(f"d{day}-{n}", day * 24 * HOUR + n * HOUR, window)
    assert 3 <= len(state.seen) + len(state.seen_before) <= 6  # a day or two, not 90
    assert not state.remember("d29-0", 29 * 24 * HOUR + 5 * HOUR, window)
    assert state.remember("d0-0", 30 * 24 * HOUR, window)  # a month late: it counts


def test_an_upstream_rerun_counts_once_however_busy_the_account() -> None:
    # 30,000 events for one account within twenty minutes, then an upstream job sends its
    # first 1,000 again ten minutes later: on the defaults, each counts once.
    settings = ScoringSettings()
    window, scorecard = DedupWindow.of(settings), load(settings.scorecard)
    state = AccountState("acme", 0)
    events = [cast(Signal, usage("acme", 0, metric="api_calls", value=1)) for _ in range(30_000)]
    start = 1_800_000_000.0
    for n, event in enumerate(events):
        apply_signal(state, event, scorecard, window, arrived=start + n * 0.04)
    for event in events[:1000]:
        apply_signal(state, event, scorecard, window, arrived=start + 1800)
    assert usage_view(state, state.now)["api_calls"]["used"] == 30_000


@pytest.mark.parametrize("name", ["PULSE_DEDUP_WINDOW", "PULSE_DEDUP_RETENTION_HOURS"])
def test_the_removed_count_and_retention_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "5000")
    with pytest.raises(ConfigurationError, match=f"{name} is no longer read"):
        ScoringSettings()
