"""Rules over days of the account's history: low_adoption and usage_decline. Pure
functions, like rules.py.

usage_decline reads whole past days (D-42..D-1), which only change with the clock's date or
a late event on a past day: it is judged once per account, date and scorecard
(AccountState.judged), and again after a late event, not at every event. low_adoption counts
today's feature use too, so every evaluation judges it (a look at a few features). Each is an
episode, recorded by its active_triggers entry alone: it fires on the way in, stays there, and
ends (a resolved event) once its re-arm condition holds.
"""

from __future__ import annotations

from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import date_of, day_of
from services.scoring.health.score import core_features, core_features_used
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import activate, end_episode, fire_news, is_active
from shared.contracts.triggers import TriggerEvent

RECENT_DAYS = (1, 14)  # usage_decline: days D-14..D-1
BASELINE_DAYS = (15, 42)  # days D-42..D-15, halved to compare two weeks with two weeks


def check_days(state: AccountState, at: float, card: Card, late: bool) -> list[TriggerEvent]:
    """The rules over days at `at` (`late`: an event on a past day changed what they read)."""
    fired = []
    if trigger := check_low_adoption(state, at, card):
        fired.append(trigger)
    judged = (day_of(at), card.version)
    if state.judged != judged or late:
        state.judged = judged
        if trigger := check_usage_decline(state, at, card):
            fired.append(trigger)
    return fired


def check_low_adoption(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """From after_days past the start: fewer than min_core_features distinct core features
    used in the last window_days. Ends at min_core_features or more. An account that never
    reported a feature is not judged: that is no data, not low adoption (as in health)."""
    rule = card.rules.low_adoption
    if not rule.enabled or not state.start or not state.features:
        return None
    core = core_features(tuple(card.core_features))
    used = core_features_used(state, day_of(at), rule.window_days, core)
    if used >= rule.min_core_features or day_of(at) < day_of(state.start) + rule.after_days:
        return end_episode(state, card, "low_adoption", at)  # None unless one was on
    if is_active(state, "low_adoption"):
        return None
    summary = (
        f"{state.name} used {used} core feature{'' if used == 1 else 's'} in the last "
        f"{rule.window_days} days (fewer than {rule.min_core_features})"
    )
    details = {
        "core_features_used": used,
        "min_core_features": rule.min_core_features,
        "window_days": rule.window_days,
        "after_days": rule.after_days,
        "start": date_of(state.start),
    }
    return activate(
        state, fire_news(state, card, "low_adoption", date_of(at), at, summary, details)
    )


def check_usage_decline(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """recent = activity events on days D-14..D-1, baseline = those on D-42..D-15 halved:
    fires when baseline >= min_baseline and recent <= (1 - drop) x baseline; ends when
    recent >= (1 - rearm_drop) x baseline."""
    rule = card.rules.usage_decline
    if not rule.enabled:
        return None
    today = day_of(at)
    recent = _events_on(state, today, RECENT_DAYS)
    baseline = _events_on(state, today, BASELINE_DAYS) / 2
    if is_active(state, "usage_decline"):
        if recent < (1 - rule.rearm_drop) * baseline:
            return None
        return end_episode(state, card, "usage_decline", at)
    if baseline < rule.min_baseline or recent > (1 - rule.drop) * baseline:
        return None
    change = 1 - recent / baseline
    summary = (
        f"{state.name}'s activity fell {change:.0%} over the last two weeks "
        f"({recent} events, against {baseline:g} in a usual fortnight)"
    )
    details = {
        "recent": recent,
        "baseline": baseline,
        "drop": rule.drop,
        "rearm_drop": rule.rearm_drop,
        "min_baseline": rule.min_baseline,
    }
    return activate(
        state, fire_news(state, card, "usage_decline", date_of(at), at, summary, details)
    )


def _events_on(state: AccountState, today: int, days: tuple[int, int]) -> int:
    """Activity events on days today-last..today-first."""
    first, last = days
    return sum(state.activity.get(today - back, 0) for back in range(first, last + 1))
