"""How far in event time every input topic has come, per cs.signals partition: the time up to
which rules may judge an account (docs/contract.md, "Backfills and watermarks").

The input topics are consumed at different rates, so in a backfill one topic's events reach
scoring days of event time ahead of another's. A signal updates its account at once; the
rules judge it at its clock only once the watermark has reached that clock, so an account is
never judged on half its data. The watermark is the least newest-event-time over the source
topics seen on the partition; a topic without new events for `idle_seconds` of processing
time does not hold it back (a topic that has nothing more to say must not stop the others),
and with every topic idle nothing holds it back.

Records (accounts, stakeholders) carry no event time and hold nothing back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import day_of
from services.scoring.metrics import DAYS_WAITED

EVENT_KINDS = ("usage", "login", "support", "survey")  # one per source topic


@dataclass(slots=True)
class _Source:
    newest: float  # newest event time seen
    heard: float  # processing time of its last event


@dataclass
class Watermarks:
    idle_seconds: float
    _sources: dict[int, dict[str, _Source]] = field(default_factory=dict)

    def observe(self, partition: int, kind: str, ts: float, now: float) -> None:
        """An event of `kind` at event time `ts` was read from `partition` at processing time
        `now`."""
        if kind not in EVENT_KINDS:
            return
        sources = self._sources.setdefault(partition, {})
        source = sources.get(kind)
        if source is None:
            sources[kind] = _Source(ts, now)
        else:
            source.newest, source.heard = max(source.newest, ts), now

    def of(self, partition: int, now: float) -> float:
        """The partition's watermark at processing time `now`."""
        busy = [
            s.newest
            for s in self._sources.get(partition, {}).values()
            if now - s.heard < self.idle_seconds
        ]
        return min(busy) if busy else math.inf

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._sources.pop(partition, None)


class WaitingAccounts:
    """The accounts with days waiting for the rules (AccountState.waiting), by partition:
    account -> the time of its first day waiting, to know without decoding an account when
    the watermark has passed it."""

    def __init__(self, watermarks: Watermarks) -> None:
        self.watermarks = watermarks
        self._first: dict[int, dict[str, float]] = {}

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._first.values())

    def note(self, state: AccountState) -> None:
        """Follow an account after its waiting days changed (or did not)."""
        waiting = self._first.setdefault(state.partition, {})
        if state.waiting:
            waiting[state.account_id] = min(state.waiting.values())
        else:
            waiting.pop(state.account_id, None)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._first.pop(partition, None)

    def ready(self, accounts: AccountCache, now: float) -> list[tuple[AccountState, list[float]]]:
        """The waiting accounts the watermark has passed a day of at processing time `now`,
        and the times to judge each at, in order: the latest event of each such day (by then
        the day holds all live processing would have judged it on), and its clock once the
        watermark has reached it. Their days are taken off AccountState.waiting."""
        ready, days = [], 0
        for partition, waiting in self._first.items():
            watermark = self.watermarks.of(partition, now)
            for account_id in [a for a, first in waiting.items() if first <= watermark]:
                if account_id not in accounts:
                    del waiting[account_id]
                    continue
                state = accounts.touch(account_id, partition)
                times = sorted(at for at in state.waiting.values() if at <= watermark)
                for at in times:
                    del state.waiting[day_of(at)]
                days += len(times)
                if state.now <= watermark:
                    state.waiting.clear()
                    if not times or times[-1] < state.now:
                        times.append(state.now)
                self.note(state)
                ready.append((state, times))
        DAYS_WAITED.inc(days)
        return ready
