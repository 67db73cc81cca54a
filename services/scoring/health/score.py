"""The health score: a weighted average of named components, each with its reason.

Pure functions of an account's state and a point in event time. A component with no data
(no login or usage yet, no feature events ever, less than two weeks of history) is left out
of the average rather than counted as zero, so a new account is not red merely for being new;
support always has data (no open ticket is a fact), so an account has a score from its first
record or event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import day_of

WEIGHTS = {"engagement": 30, "activity": 25, "support": 20, "adoption": 15, "usage_trend": 10}
ACTIVITY_WINDOW_DAYS = 14
TREND_DAYS = 7
ADOPTION_TARGET = 5
SUPPORT_PENALTY = {"urgent": 30, "high": 15, "normal": 5, "low": 2}


@dataclass(frozen=True, slots=True)
class Component:
    score: int | None  # None: no data, left out of the average
    why: str


def is_engaged(person: Person, today: int, window_days: int) -> bool:
    """Seen (login or usage) on one of the last `window_days` days and not gone.

    Every window is whole days, so health changes only when the day does or an event arrives;
    that is what lets scoring skip evaluating events that cannot lower it."""
    seen = person["last_seen"]
    return seen > 0 and day_of(seen) > today - window_days and person.get("status") != "left"


def engaged_people(state: AccountState, at: float, window_days: int) -> list[Person]:
    today = day_of(at)
    return [p for p in state.people.values() if is_engaged(p, today, window_days)]


def has_activity(state: AccountState) -> bool:
    """Whether anyone at the account has logged in or used the product yet."""
    return bool(state.activity) or any(p["last_seen"] for p in state.people.values())


def engagement(state: AccountState, at: float, window_days: int, wanted: int) -> Component:
    if not has_activity(state):
        return Component(None, "no login or usage yet")
    people = engaged_people(state, at, window_days)
    score = round(100 * min(len(people), wanted) / wanted)
    return Component(
        score,
        f"{len(people)} engaged stakeholder{'' if len(people) == 1 else 's'} "
        f"in the last {window_days} days "
        f"({wanted} or more wanted)",
    )


def activity(state: AccountState, at: float) -> Component:
    if not has_activity(state):
        return Component(None, "no login or usage yet")
    today = day_of(at)
    observed = min(ACTIVITY_WINDOW_DAYS, today - day_of(state.first_seen) + 1)
    active = sum(1 for d in range(today - observed + 1, today + 1) if state.activity.get(d))
    return Component(
        round(100 * active / observed), f"active on {active} of the last {observed} days"
    )


def support(state: AccountState) -> Component:
    open_tickets = [t for t in state.tickets.values() if t["status"] == "open"]
    penalty = sum(SUPPORT_PENALTY[t["priority"]] for t in open_tickets)
    why = f"{len(open_tickets)} open tickets"
    urgent = sum(1 for t in open_tickets if t["priority"] in ("urgent", "high"))
    if urgent:
        why += f" ({urgent} high or urgent)"
    recent_csat = [score for _, score in state.csat[-3:]]
    if recent_csat and sum(recent_csat) / len(recent_csat) <= 2:
        penalty += 20
        why += f", low satisfaction (CSAT {sum(recent_csat) / len(recent_csat):.1f})"
    return Component(max(0, 100 - penalty), why)


def adoption(state: AccountState, at: float, window_days: int) -> Component:
    if not state.features:
        return Component(None, "no feature usage reported")
    first_day = day_of(at) - window_days + 1
    used = sum(1 for ts in state.features.values() if day_of(ts) >= first_day)
    score = round(100 * min(used, ADOPTION_TARGET) / ADOPTION_TARGET)
    return Component(score, f"{used} features used in the last {window_days} days")


def usage_trend(state: AccountState, at: float) -> Component:
    today = day_of(at)
    if not has_activity(state) or today - day_of(state.first_seen) + 1 < 2 * TREND_DAYS:
        return Component(None, "less than two weeks of history")
    recent = sum(state.activity.get(d, 0) for d in range(today - TREND_DAYS + 1, today + 1))
    before = sum(
        state.activity.get(d, 0) for d in range(today - 2 * TREND_DAYS + 1, today - TREND_DAYS + 1)
    )
    if before == 0:
        score = 100 if recent else 0
        return Component(score, f"{recent} events this week, none the week before")
    score = round(100 * min(1.0, recent / before))
    change = round(100 * (recent - before) / before)
    return Component(score, f"activity {change:+d}% week over week ({recent} vs {before} events)")


def band_of(score: int, red_below: int, green_from: int) -> str:
    if score >= green_from:
        return "green"
    return "yellow" if score >= red_below else "red"


def compute_health(state: AccountState, at: float, rules: Any) -> dict[str, Any]:
    """{"score", "band", "components": {name: {"score", "weight", "why"}}} at event time `at`."""
    parts = {
        "engagement": engagement(
            state, at, rules.engaged_window_days, rules.single_threaded_min_engaged
        ),
        "activity": activity(state, at),
        "support": support(state),
        "adoption": adoption(state, at, rules.engaged_window_days),
        "usage_trend": usage_trend(state, at),
    }
    counted = {n: c for n, c in parts.items() if c.score is not None}
    total_weight = sum(WEIGHTS[n] for n in counted)
    score = round(sum(WEIGHTS[n] * (c.score or 0) for n, c in counted.items()) / total_weight)
    return {
        "score": score,
        "band": band_of(score, rules.health_red_below, rules.health_green_from),
        "components": {
            n: {"score": c.score, "weight": WEIGHTS[n], "why": c.why} for n, c in parts.items()
        },
    }
