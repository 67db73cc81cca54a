"""Day masks (accounts/daymask.py): which days a person was active, kept in one integer."""

from services.scoring.accounts.daymask import count, last, mark, merge


def test_marked_days_are_counted_in_any_window_within_the_width() -> None:
    days = None
    for day in (100, 101, 105, 130, 160):
        days = mark(days, day, 64)
    assert count(days, 100, 160) == 5
    assert count(days, 101, 129) == 2
    assert count(days, 131, 159) == 0
    assert count(days, 150, 170) == 1  # days after the newest are simply unset


def test_a_late_day_is_set_and_a_day_beyond_the_width_is_forgotten() -> None:
    days = mark(mark(None, 200, 32), 190, 32)
    assert count(days, 190, 190) == 1
    days = mark(days, 100, 32)  # 100 days back: beyond every window
    assert days == mark(mark(None, 200, 32), 190, 32)
    days = mark(days, 230, 32)  # moving on forgets day 190 (40 back) and keeps 200
    assert count(days, 150, 230) == 2


def test_two_masks_merge_into_their_days() -> None:
    one, other = mark(mark(None, 10, 64), 12, 64), mark(None, 40, 64)
    assert count(merge(one, other, 64), 0, 100) == 3
    assert merge(None, other, 64) == other


def test_the_last_day_set_up_to_a_day() -> None:
    days = None
    for day in (10, 15, 20):
        days = mark(days, day, 64)
    assert [last(days, d) for d in (9, 10, 14, 15, 19, 20, 99)] == [None, 10, 10, 15, 15, 20, 20]
    assert last(None, 5) is None
