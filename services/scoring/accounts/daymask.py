"""Which days a person was active (or logged in), as a bitmask: [newest day, mask], bit k set
when they were on day newest - k. Two small integers per person answer every per-person day
window of the catalogue (seat_growth's 60 days, login_frequency_up's 28, the onboarding team's
14) where a list of days would cost a number each."""

from __future__ import annotations

DayMask = list[int]  # [newest day, mask]


def mark(days: DayMask | None, day: int, width: int) -> DayMask:
    """The mask with `day` set, keeping `width` days back from the newest; a day older than
    that is beyond every window and changes nothing."""
    if not days:
        return [day, 1]
    newest, mask = days
    if day > newest:
        mask = (mask << (day - newest)) & ((1 << width) - 1)
        newest = day
    back = newest - day
    if back < width:
        mask |= 1 << back
    return [newest, mask]


def reaches(days: DayMask | None, first: int, width: int) -> bool:
    """Whether the mask still holds day `first` (a mask that moved on has forgotten it)."""
    return not days or days[0] - first < width


def count(days: DayMask | None, first: int, last: int) -> int:
    """How many of the days first..last are set."""
    if not days or last < first:
        return 0
    newest, mask = days
    low, high = max(newest - last, 0), newest - first
    if high < 0:
        return 0
    return ((mask >> low) & ((1 << (high - low + 1)) - 1)).bit_count()


def merge(one: DayMask | None, other: DayMask | None, width: int) -> DayMask | None:
    """Both masks' days in one (two records of one person merged)."""
    if not one or not other:
        return one or other
    newest = max(one[0], other[0])
    mask = 0
    for day, bits in (one, other):
        mask |= bits << (newest - day)
    return [newest, mask & ((1 << width) - 1)]


def last(days: DayMask | None, until: int) -> int | None:
    """The latest day set on or before `until`, if any is within the mask."""
    if not days:
        return None
    newest, mask = days
    skip = max(newest - until, 0)
    rest = mask >> skip
    if not rest:
        return None
    return newest - skip - ((rest & -rest).bit_length() - 1)
