"""Which accounts the tick visits, and where it moves their clocks (accounts/ticking.py and
AccountCache.due): live ones whose day the wall clock has left, new ones in their first 30
days without any event, and those whose live window ended during an outage; not the others,
and without looking at them."""

from __future__ import annotations

from harness.signals import at
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.packing import Times, pack_account
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.ticking import NEVER, next_tick, tick_time
from services.scoring.accounts.time import date_of

MIDNIGHT = at(0) // 86400 * 86400
DAY = 86400.0


def t(day: int, hour: float = 0) -> float:
    return MIDNIGHT + day * DAY + hour * 3600


def account(account_id: str, newest: float = 0.0, start_date: str | None = None) -> AccountState:
    profile = {"name": account_id, "start_date": start_date} if start_date else None
    return AccountState(account_id, 0, profile=profile, now=newest, newest=newest)


def _store(*states: AccountState) -> AccountCache:
    """The accounts kept packed, as loaded from the database, but the last one decoded."""
    store = AccountCache(hot_limit=1, live_window=DAY)
    for state in states[:-1]:
        store.load(state.account_id, 0, pack_account(state))
    hot = store.touch(states[-1].account_id, 0)
    hot.profile, hot.now, hot.newest = states[-1].profile, states[-1].now, states[-1].newest
    store.schedule(hot)
    return store


def test_the_tick_visits_live_accounts_once_their_day_is_over() -> None:
    store = _store(
        account("yesterday", t(1, 23)),
        account("ahead", t(3, 11)),  # replays history ahead of the wall clock
        account("today", t(2, 1)),
    )
    assert store.due(t(2, 10)) == ["yesterday"]
    # Taken off its day: not visited again in this day's later ticks.
    assert store.due(t(2, 11)) == []
    # At the next midnight "today" has a day to evaluate.
    assert store.due(t(3, 0.01)) == ["today"]
    assert store.due(t(4, 0.01)) == ["ahead"]


def test_an_account_whose_live_window_ended_unvisited_is_visited_once() -> None:
    """Loaded after a week away: its last midnight within the live window was never ticked."""
    store = _store(account("last_week", t(-5, 12)), account("other", t(2, 1)))
    assert store.due(t(2, 10)) == ["last_week"]
    times = Times(now=t(-5, 12), newest=t(-5, 12), start=0.0)
    assert tick_time(times, t(2, 10), DAY) == t(-4, 12)  # where its live window ended
    assert next_tick(times._replace(now=t(-4, 12)), DAY) == NEVER  # and no more


def test_a_new_account_is_due_from_its_start_date_without_any_event() -> None:
    new = account("new", start_date=date_of(t(5)))
    store = _store(new, account("other", t(5, 2)))
    assert store.due(t(4, 23)) == []
    assert store.due(t(5, 0.01)) == ["new"]
    times = Times(now=t(5, 0.01), newest=0.0, start=t(5))
    assert next_tick(times, DAY) == t(6)  # each midnight of its first 30 days
    assert next_tick(times._replace(now=t(34, 0.01)), DAY) == t(35)
    assert next_tick(times._replace(now=t(35, 0.01)), DAY) == NEVER


def test_the_clock_moves_to_the_wall_inside_a_span_and_to_its_end_after_an_outage() -> None:
    live = Times(now=t(1, 10), newest=t(1, 10), start=0.0)
    assert tick_time(live, t(2, 0.01), DAY) == t(2, 0.01)
    assert tick_time(live, t(1, 23), DAY) is None  # the same day: nothing changes
    # Scoring was down for three days: the account stopped being live at t(2, 10), and is
    # judged there, where the tick would have judged it last.
    assert tick_time(live, t(4, 12), DAY) == t(2, 10)
    onboarding = Times(now=0.0, newest=0.0, start=t(5))
    assert tick_time(onboarding, t(4), DAY) is None
    assert tick_time(onboarding, t(6, 3), DAY) == t(6, 3)


def test_a_changed_account_is_filed_again_and_the_old_day_is_skipped() -> None:
    store = _store(account("acme", t(1, 10)))
    hot = store.touch("acme", 0)
    hot.now = hot.newest = t(2, 9)  # an event the next day
    store.schedule(hot)
    assert store.due(t(2, 10)) == []  # filed under day 2 once, now due on day 3
    assert store.due(t(3, 0.01)) == ["acme"]


def test_a_blob_from_before_the_times_header_is_due_after_its_clock_day() -> None:
    store = AccountCache(hot_limit=1, live_window=DAY)
    version_1 = b"\x01" + pack_account(account("old", t(1, 10)))[1:9]  # clock only
    store.load("old", 0, version_1)
    assert store.due(t(2, 0.01)) == ["old"]
