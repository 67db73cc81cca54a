"""The health score: a weighted average of named components, each with its reason.

Pure functions of an account's state and a point in event time. A component with no data
(no login or usage yet, no feature events ever, less than two weeks of history) is left out
of the average rather than counted as zero, so a new account is not red merely for being new;
support always has data (no open ticket is a fact), so an account has a score from its first
record or event.

Scoring evaluates health at every event that starts an account's day (most events, when
accounts are many and each sends a few a day), so the components take what compute_health
works out once (the day, who is engaged, whether anyone was ever active) as arguments.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Any

from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import day_of
from services.scoring.scorecard.model import Card

WEIGHTS = {"engagement": 30, "activity": 25, "support": 20, "adoption": 15, "usage_trend": 10}
ACTIVITY_WINDOW_DAYS = 14
TREND_DAYS = 7
ADOPTION_TARGET = 5
SUPPORT_PENALTY = {"urgent": 30, "high": 15, "normal": 5, "low": 2}
# An open ticket nobody touched in this long, and a CSAT score this old, no longer say how
# the account is doing today.
SUPPORT_WINDOW_DAYS = 90

Component = tuple[int | None, str]  # score (None: no data, left out of the average), why


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


def engagement(engaged: int, active: bool, window_days: int, wanted: int) -> Component:
    if not active:
        return None, "no login or usage yet"
    return (
        round(100 * min(engaged, wanted) / wanted),
        f"{engaged} engaged stakeholder{'' if engaged == 1 else 's'} "
        f"in the last {window_days} days ({wanted} or more wanted)",
    )


def activity(state: AccountState, today: int, active: bool) -> Component:
    if not active:
        return None, "no login or usage yet"
    observed = min(ACTIVITY_WINDOW_DAYS, today - day_of(state.first_seen) + 1)
    days = state.activity
    active_days = len([d for d in range(today - observed + 1, today + 1) if days.get(d)])
    return round(
        100 * active_days / observed
    ), f"active on {active_days} of the last {observed} days"


def support(state: AccountState, today: int) -> Component:
    oldest = today - SUPPORT_WINDOW_DAYS + 1
    penalty = opened = urgent = 0
    for ticket in state.tickets.values():
        if ticket["status"] == "open" and day_of(ticket["updated"] or ticket["opened"]) >= oldest:
            opened += 1
            penalty += SUPPORT_PENALTY[ticket["priority"]]
            urgent += ticket["priority"] in ("urgent", "high")
    why = f"{opened} open tickets updated in the last {SUPPORT_WINDOW_DAYS} days"
    if urgent:
        why += f" ({urgent} high or urgent)"
    recent_csat = [score for ts, score in state.csat[-3:] if day_of(ts) >= oldest]
    if recent_csat and sum(recent_csat) / len(recent_csat) <= 2:
        penalty += 20
        why += f", low satisfaction (CSAT {sum(recent_csat) / len(recent_csat):.1f})"
    return max(0, 100 - penalty), why


def adoption(state: AccountState, today: int, window_days: int, core: CoreFeatures) -> Component:
    if not state.features:
        return None, "no feature usage reported"
    first_day = today - window_days + 1
    used = len([f for f, ts in state.features.items() if day_of(ts) >= first_day and core.match(f)])
    kind = "core features" if core.globs else "features"
    return (
        round(100 * min(used, ADOPTION_TARGET) / ADOPTION_TARGET),
        f"{used} {kind} used in the last {window_days} days",
    )


class CoreFeatures:
    """The scorecard's core_features globs, compiled once per scorecard."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        self.globs = globs
        pattern = "|".join(fnmatch.translate(g) for g in globs)
        self._match = re.compile(pattern).match if globs else None

    def match(self, feature: str) -> bool:
        return self._match is None or self._match(feature) is not None


@functools.lru_cache(maxsize=64)
def core_features(globs: tuple[str, ...]) -> CoreFeatures:
    return CoreFeatures(globs)


def usage_trend(state: AccountState, today: int, active: bool) -> Component:
    if not active or today - day_of(state.first_seen) + 1 < 2 * TREND_DAYS:
        return None, "less than two weeks of history"
    days = state.activity
    recent = sum([days.get(d, 0) for d in range(today - TREND_DAYS + 1, today + 1)])
    before = sum(
        [days.get(d, 0) for d in range(today - 2 * TREND_DAYS + 1, today - TREND_DAYS + 1)]
    )
    if before == 0:
        return (100 if recent else 0), f"{recent} events this week, none the week before"
    change = round(100 * (recent - before) / before)
    return (
        round(100 * min(1.0, recent / before)),
        f"activity {change:+d}% week over week ({recent} vs {before} events)",
    )


def band_of(score: int, red_below: int, green_from: int) -> str:
    if score >= green_from:
        return "green"
    return "yellow" if score >= red_below else "red"


def compute_health(
    state: AccountState, at: float, card: Card, engaged: list[Person] | None = None
) -> dict[str, Any]:
    """{"score", "band", "components": {name: {"score", "weight", "why"}}} at event time `at`.
    `engaged`, when the caller has it, is engaged_people(state, at, the engaged window)."""
    today = day_of(at)
    window = card.rules.single_threaded.engaged_window_days
    if engaged is None:
        engaged = engaged_people(state, at, window)
    active = has_activity(state)
    target = card.rules.single_threaded.min_engaged
    parts = (
        ("engagement", engagement(len(engaged), active, window, target)),
        ("activity", activity(state, today, active)),
        ("support", support(state, today)),
        ("adoption", adoption(state, today, window, core_features(tuple(card.core_features)))),
        ("usage_trend", usage_trend(state, today, active)),
    )
    components = {}
    counted_weight = weighted = 0
    for name, (score, why) in parts:
        weight = WEIGHTS[name]
        components[name] = {"score": score, "weight": weight, "why": why}
        if score is not None:
            counted_weight += weight
            weighted += weight * score
    total = round(weighted / counted_weight)
    return {
        "score": total,
        "band": band_of(total, card.health.bands.red_below, card.health.bands.green_from),
        "components": components,
        "scorecard_version": card.version,
    }
