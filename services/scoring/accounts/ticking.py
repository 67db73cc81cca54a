"""When the tick moves an account's clock, and when it is next due: pure functions of the
account's times (packing.Times).

The tick may move the clock within two spans (docs/contract.md, the trigger catalogue): the
live window after the newest event, and the 30 days from the record's start_date (so that a
new account that sends nothing is still judged). Every rule's window is whole days, so within
a day the clock's moves change nothing: an account is due at the next midnight of its clock,
or at its start date's, whichever the tick may reach first. The clock moves to the wall clock
inside a span; past every span it moves to the end of the last one, so an account whose span
ended during an outage is judged as the tick would have judged it then, not forgotten. And it
never moves past the watermark (accounts/watermark.py): in a backfill the topics are days
behind the wall clock, and an account is judged where its history has come.
"""

from __future__ import annotations

import math

from services.scoring.accounts.packing import Times
from services.scoring.accounts.time import DAY, day_of

ONBOARDING_DAYS = 30
NEVER = math.inf


def spans(times: Times, live_window: float) -> list[tuple[float, float]]:
    """Where the tick may move the clock: [begin, end] pairs."""
    found = []
    if times.newest:
        found.append((times.newest, times.newest + live_window))
    if times.start:
        found.append((times.start, times.start + ONBOARDING_DAYS * DAY))
    return found


def tick_time(
    times: Times, wall: float, live_window: float, until: float = math.inf
) -> float | None:
    """Where the tick moves the clock at `wall`, but not past `until` (the watermark: the
    input topics have not come further); None when that is not on a later day than the
    clock (nothing would change)."""
    reach = [min(wall, end) for begin, end in spans(times, live_window) if begin <= wall]
    moved = min(max(reach, default=0.0), until)
    return moved if moved and day_of(moved) > day_of(times.now) else None


def next_tick(times: Times, live_window: float) -> float:
    """The earliest wall time at which tick_time has a move: the clock's next midnight or the
    start date, if a span reaches it; NEVER otherwise (until an event or a record)."""
    found = spans(times, live_window)
    candidates = [(day_of(times.now) + 1) * DAY, *(b for b, _ in found if b > times.now)]
    reachable = [c for c in candidates if any(b <= c <= e for b, e in found)]
    return min(reachable, default=NEVER)
