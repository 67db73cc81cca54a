"""Which accounts the tick visits: live ones whose day the wall clock has left."""

from __future__ import annotations

from harness.signals import at
from services.scoring.accounts.cache import AccountCache, packed_entry
from services.scoring.accounts.state import AccountState

MIDNIGHT = at(0) // 86400 * 86400


def t(day: int, hour: float = 0) -> float:
    return MIDNIGHT + day * 86400 + hour * 3600


def _store(**event_times: float) -> AccountCache:
    store = AccountCache(hot_limit=1)
    for account_id, now in event_times.items():
        state = store.touch(account_id, 0)
        state.now = now
    store.entries["cold"] = packed_entry(AccountState("cold", 0, now=t(1, 5)))
    store.evict()  # all but the newest decoded are kept packed now
    return store


def test_the_tick_visits_live_accounts_on_an_earlier_day_only() -> None:
    wall = t(2, 10)
    store = _store(today=t(2, 1), yesterday=t(1, 23), last_week=t(-5), ahead=t(2, 11))
    live = store.live(wall - 86400 * 2, wall)
    # "today" had its day evaluated already; "last_week" is past the live window; "ahead"
    # replays history ahead of the wall clock (its own event time rules).
    assert live == ["yesterday", "cold"]
    # At midnight every one of them has a day to evaluate.
    assert store.live(t(3) - 86400 * 2, t(3)) == ["today", "yesterday", "ahead", "cold"]
