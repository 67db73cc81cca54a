"""By hand: scoring's apply core alone, on the benchmark's workload. Not a test and not run
by CI.

    python -m bench.tools.apply [--accounts 10000] [--events 200000] [--default-gc]

Turns `pulse bench`'s messages into signals as ingest does, then, in one process, decodes and
applies each one the way ScoringProcessor.process does (orjson, the account store, apply_signal),
with no broker and no database, and with the garbage collector paced as the services pace it
(--default-gc: Python's default pace). Reports the CPU time per signal and the share of it the
collector took, and how many signals took a full evaluation rather than the quiet path.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter
from datetime import UTC, datetime

import orjson

from bench.workload import build
from services.ingest.fast import fast_signal
from services.scoring.accounts import apply
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import load
from services.scoring.scorecard.model import Card
from services.scoring.settings import ScoringSettings
from shared.contracts.signals import EventSignal
from shared.eventloop import pace_garbage_collection

KINDS = {
    "product_usage": "usage",
    "logins": "login",
    "support": "support",
    "accounts": "account",
    "stakeholders": "stakeholder",
}
END = datetime(2026, 11, 20, tzinfo=UTC)


def signals(accounts: int, events: int) -> list[bytes]:
    workload = build(accounts, events, seed=1, end=END)
    encoded = []
    for n, message in enumerate(workload.messages):
        kind = KINDS[message.topic]
        signal = fast_signal(kind, orjson.loads(message.encode()), f"bench:0:{n}", END)
        assert signal is not None, f"the fast path refused {message}"
        encoded.append(orjson.dumps(signal))
    return encoded


def apply_all(encoded: list[bytes], settings: ScoringSettings) -> int:
    """Decode and apply every signal as ScoringProcessor.process does; the triggers fired."""
    store = AccountCache(settings.scoring_hot_accounts)
    dedup = DedupWindow.of(settings)
    scorecard = load(settings.scorecard)
    fired = 0
    for value in encoded:
        signal = orjson.loads(value)
        state = store.touch(signal["account_id"], 0)
        fired += len(apply_signal(state, signal, scorecard, dedup, arrived=0.0))
    return fired


def count_paths(encoded: list[bytes], settings: ScoringSettings) -> Counter[bool]:
    """How many signals took the quiet path (True) and a full evaluation (False)."""
    paths: Counter[bool] = Counter()
    is_quiet = apply.is_quiet

    def counted(state: AccountState, signal: EventSignal, ts: float, rules: Card) -> bool:
        quiet = is_quiet(state, signal, ts, rules)
        paths[quiet] += 1
        return quiet

    apply.is_quiet = counted
    try:
        apply_all(encoded, settings)
    finally:
        apply.is_quiet = is_quiet
    return paths


class CollectorTime:
    """A gc callback adding up the time the collections take."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--default-gc", action="store_true", help="Python's own GC pace")
    args = parser.parse_args()
    if not args.default_gc:
        pace_garbage_collection()
    encoded = signals(args.accounts, args.events)
    settings = ScoringSettings()
    collecting = CollectorTime()
    gc.callbacks.append(collecting)
    started = time.process_time()
    fired = apply_all(encoded, settings)
    seconds = time.process_time() - started
    gc.callbacks.remove(collecting)
    paths = count_paths(encoded, settings)  # a second, untimed pass
    print(
        f"{len(encoded):,} signals in {seconds:.2f} s of CPU: "
        f"{seconds / len(encoded) * 1e6:.1f} µs per signal, "
        f"{collecting.seconds / seconds:.0%} of it collecting garbage; {fired:,} triggers; "
        f"events evaluated in full {paths[False]:,}, quiet {paths[True]:,} "
        "(records always are)"
    )


if __name__ == "__main__":
    main()
