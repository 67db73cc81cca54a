"""Rules over days of the account's history: low_adoption, usage_decline, login_frequency_up
and seat_growth. Pure functions, like rules.py.

usage_decline, login_frequency_up and seat_growth read whole past days (as far as D-60..D-1),
which only change with the clock's date or a late event on a past day: they are judged once
per account, date and scorecard (AccountState.judged), not at every event; usage_decline also
again after a late event, the two that go through every person at the next day's judgement.
low_adoption counts today's feature use too, so every evaluation judges it (a
look at a few features).

low_adoption and usage_decline are episodes, recorded by their active_triggers entry alone:
each fires on the way in, stays there, and ends (a resolved event) once its re-arm condition
holds. login_frequency_up and seat_growth are news with a cooldown: expansion signals, which
carry expansion_gated while the adoption gate is shut.
"""

from __future__ import annotations

from services.scoring.accounts import daymask
from services.scoring.accounts.state import ACTIVITY_DAYS, DAY_MASKS, AccountState, Person
from services.scoring.accounts.time import DAY, date_of, day_of, month_of
from services.scoring.health.score import core_features_used
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import (
    activate,
    adoption_gate_open,
    cooling_down,
    end_episode,
    fire_news,
    is_active,
    note_firing,
)
from shared.contracts.triggers import TriggerEvent

RECENT_DAYS = (1, 14)  # usage_decline: days D-14..D-1
BASELINE_DAYS = (15, 42)  # days D-42..D-15, halved to compare two weeks with two weeks


def check_days(state: AccountState, at: float, card: Card, late: bool) -> list[TriggerEvent]:
    """The rules over days at `at` (`late`: an event on a past day changed what they read)."""
    fired = []
    if trigger := check_low_adoption(state, at, card):
        fired.append(trigger)
    judged = (day_of(at), card.version)
    new_day = state.judged != judged
    if new_day or late:
        state.judged = judged
        if trigger := check_usage_decline(state, at, card):
            fired.append(trigger)
    # The people's rules go through every person: once a day, a late event included in the
    # next day's judgement (a backfill sent out of order makes nearly every event late).
    if new_day:
        for check in (check_login_frequency_up, check_seat_growth):
            if trigger := check(state, at, card):
                fired.append(trigger)
    return fired


def check_low_adoption(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """From after_days past the start: fewer than min_core_features distinct core features
    used in the last window_days. Ends at min_core_features or more. An account that never
    reported a feature is not judged: that is no data, not low adoption (as in health)."""
    rule = card.rules.low_adoption
    if not rule.enabled or not state.start or not state.features:
        return None
    if day_of(at) < day_of(state.start) + rule.after_days:
        return end_episode(state, card, "low_adoption", at)  # None unless one was on
    used = core_features_used(state, day_of(at), rule.window_days, card.core)
    if used >= rule.min_core_features:
        return end_episode(state, card, "low_adoption", at)
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
    active = is_active(state, "usage_decline")
    if not active and sum(state.activity.values()) < 2 * rule.min_baseline:
        return None  # too few events kept for a baseline that high (most accounts)
    recent, before = _recent_and_baseline(state, day_of(at))
    baseline = before / 2
    if active:
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


HABIT_DAYS = (15, 28)  # login_frequency_up: the habit before, days D-28..D-15
WEEKLY = (2, 8)  # logged in on 2..8 of those 14 days


def check_login_frequency_up(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """At least min_users people who logged in on 2..8 of days D-28..D-15 logged in on
    daily_days or more of days D-14..D-1; someone first active after D-28 does not count (the
    start of their data is no change of habit)."""
    rule = card.rules.login_frequency_up
    if not rule.enabled or len(state.people) < rule.min_users:
        return None
    if cooling_down(state, "login_frequency_up", at, rule.cooldown_days):
        return None
    today = day_of(at)
    if _kept(state, today - RECENT_DAYS[1]) and len(state.activity) < rule.daily_days:
        return None  # fewer days with any activity than one daily person needs
    recent = _events_on(state, today - RECENT_DAYS[1], today - RECENT_DAYS[0])
    if recent is not None and recent < rule.min_users * rule.daily_days:
        return None  # too few logins in the account to be daily for min_users people
    if not _remembered(state, "logins", today - HABIT_DAYS[1]):
        return None
    daily = [p for p in state.people.values() if _went_daily(p, today, rule.daily_days)]
    if len(daily) < rule.min_users:
        return None
    note_firing(state, "login_frequency_up", at)
    summary = (
        f"{state.name}: {len(daily)} people went from logging in weekly to daily over the "
        "last two weeks"
    )
    details = {
        "people": sorted(_who(p) for p in daily)[:20],
        "users": len(daily),
        "min_users": rule.min_users,
        "daily_days": rule.daily_days,
        "cooldown_days": rule.cooldown_days,
        "expansion_gated": not adoption_gate_open(state, at, card),
    }
    return fire_news(state, card, "login_frequency_up", date_of(at), at, summary, details)


def _went_daily(person: Person, today: int, daily_days: int) -> bool:
    logins = person.get("logins")
    before = daymask.count(logins, today - HABIT_DAYS[1], today - HABIT_DAYS[0])
    if not WEEKLY[0] <= before <= WEEKLY[1]:
        return False
    recent = daymask.count(logins, today - RECENT_DAYS[1], today - RECENT_DAYS[0])
    return recent >= daily_days and _known_since(person, today - HABIT_DAYS[1])


def check_seat_growth(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """Active people on days D-30..D-1 >= before + min_added and >= min_ratio x before, where
    before (at least 1) is the active people on days D-60..D-31."""
    rule = card.rules.seat_growth
    if not rule.enabled or len(state.people) < 1 + rule.min_added:  # before 1, after 1 + added
        return None
    if cooling_down(state, "seat_growth", at, rule.cooldown_days):
        return None
    today = day_of(at)
    if not state.first_seen or day_of(state.first_seen) > today - 31:
        return None  # no one was active 31..60 days ago: nothing to grow from
    events_now, events_before = (
        _events_on(state, today - 30, today - 1),
        _events_on(state, today - 60, today - 31),
    )
    if (events_now is not None and events_now < 1 + rule.min_added) or events_before == 0:
        return None  # too little activity for that many active people
    now = before = 0
    width = DAY_MASKS["act"]
    for person in state.people.values():
        days = person.get("act")
        if not days:
            continue
        if not daymask.reaches(days, today - 60, width):
            return None  # a day forgotten: judged again once the clock has caught up
        now += daymask.count(days, today - 30, today - 1) > 0
        before += daymask.count(days, today - 60, today - 31) > 0
    if before < 1 or now < before + rule.min_added or now < rule.min_ratio * before:
        return None
    note_firing(state, "seat_growth", at)
    summary = f"{state.name} grew from {before} to {now} active people over the last 30 days"
    details = {
        "active_people": now,
        "before": before,
        "min_added": rule.min_added,
        "min_ratio": rule.min_ratio,
        "cooldown_days": rule.cooldown_days,
        "expansion_gated": not adoption_gate_open(state, at, card),
    }
    return fire_news(state, card, "seat_growth", date_of(at), at, summary, details)


def _events_on(state: AccountState, first: int, last: int) -> int | None:
    """Activity events on days first..last (None if the account no longer keeps them all).
    Every day a person was active, or logged in, counted an event there: the people's rules
    need at least so many, and most accounts have far fewer, so they are ruled out without
    going through every person's days."""
    if not _kept(state, first):
        return None
    return sum(events for day, events in state.activity.items() if first <= day <= last)


def _kept(state: AccountState, day: int) -> bool:
    """Whether the account still keeps its activity on `day` (and every day after it)."""
    return day >= day_of(state.now) - ACTIVITY_DAYS


def _remembered(state: AccountState, mask: str, first_day: int) -> bool:
    """Whether every person's day mask still holds `first_day`: judging a day far behind the
    newest events (behind the watermark) is left to a later evaluation rather than done on
    days forgotten."""
    width = DAY_MASKS[mask]
    return all(daymask.reaches(p.get(mask), first_day, width) for p in state.people.values())


def _known_since(person: Person, day: int) -> bool:
    """Whether the person's first activity event is on or before `day`: their day mask
    reaches 63 days back, their months further."""
    if daymask.count(person.get("act"), day - 35, day):
        return True
    months = person.get("months") or []
    return bool(months) and months[0] < month_of(day * DAY)


def _who(person: Person) -> str:
    return str(person.get("email") or person.get("user_id") or "")


def _recent_and_baseline(state: AccountState, today: int) -> tuple[int, int]:
    """Activity events on days RECENT_DAYS and BASELINE_DAYS back from today, in one pass
    over the (at most 60) days kept."""
    recent = baseline = 0
    for day, events in state.activity.items():
        back = today - day
        if RECENT_DAYS[0] <= back <= RECENT_DAYS[1]:
            recent += events
        elif BASELINE_DAYS[0] <= back <= BASELINE_DAYS[1]:
            baseline += events
    return recent, baseline
