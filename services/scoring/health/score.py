"""The health score: a weighted average of six named components, each with its reason and
the numbers it came from (docs/contract.md, "Health").

Pure functions of an account's state, a point in event time and the scorecard of the
account's tier. A component without data is left out of the average rather than counted as
zero, so a new account is not red merely for being new; an account with no component data at
all (named by a record, no event yet) has no score and the band "none".

A component gets its data from an event that carries it (a login, a feature used, a ticket,
a survey answer, a stakeholder's role or department), never from time passing alone: the score
moves because the customer did something, or because what they did has aged out of a window.

Scoring evaluates health at every event that starts an account's day (most events, when
accounts are many and each sends a few a day), so the components take what compute_health
works out once (the day, who is engaged, whether anyone was ever active) as arguments, and
a component's words depend on its numbers alone: they are written once per distinct numbers
(lru_cache), and the tuples returned are shared between accounts, never changed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import DAY, day_of
from services.scoring.scorecard.model import Card, CoreFeatures

ACTIVITY_WINDOW_DAYS = 14
ADOPTION_TARGET = 5
SUPPORT_PENALTY = {"urgent": 30, "high": 15, "normal": 5, "low": 2}
# An open ticket nobody touched in this long, and a CSAT score this old, no longer say how
# the account is doing today.
SUPPORT_WINDOW_DAYS = 90
# The ticket rate: tickets opened in the last RATE_DAYS against the account's own rate over
# the RATE_BASELINE_DAYS before them.
RATE_DAYS = 30
RATE_BASELINE_DAYS = 60
RATE_MIN_TICKETS = 3
RATE_FACTOR = 2
RATE_PENALTY = 15
LOW_CSAT_PENALTY = 20
SENTIMENT_WINDOW_DAYS = 180
BREADTH_TARGET = 3  # departments among the engaged people
BREADTH_POINTS, CHAMPION_POINTS, SPONSOR_POINTS = 40, 30, 30

# score (None: no data, left out of the average), why, inputs (the numbers it came from)
Component = tuple[int | None, str, dict[str, Any]]


def is_engaged(person: Person, today: int, window_days: int) -> bool:
    """Seen (login or usage) on one of the last `window_days` days and not gone.

    Every window is whole days, so health changes only when the day does or an event arrives;
    that is what lets scoring skip evaluating events that cannot lower it."""
    seen = person["last_seen"]
    return seen > 0 and day_of(seen) > today - window_days and person.get("status") != "left"


class Roster(NamedTuple):
    """Who is engaged, whether a champion and an executive sponsor are there (engaged, not
    engaged or none), and who holds a key role: one pass over the account's people per
    evaluation, for health and the rules that read people."""

    engaged: list[Person]
    presence: dict[str, str]
    known: bool  # anyone with a department or a role other than user
    keys: list[Person]  # with a role of `key_roles` and an email, not gone


def roster(
    state: AccountState, at: float, window_days: int, key_roles: Sequence[str] = ()
) -> Roster:
    # is_engaged, inlined and in seconds: this runs at every evaluation, for every person.
    first_ts = (day_of(at) - window_days + 1) * DAY
    engaged, keys = [], []
    presence = {"champion": "none", "executive_sponsor": "none"}
    known = False
    for person in state.people.values():
        role, gone = person.get("role"), person.get("status") == "left"
        if person["last_seen"] >= first_ts and person["last_seen"] > 0 and not gone:
            engaged.append(person)
            if role in presence:
                presence[role] = "engaged"
        elif role in presence and not gone and presence[role] == "none":
            presence[role] = "not engaged"
        if not known and (person.get("department") or (role and role != "user")):
            known = True
        if role in key_roles and not gone and person.get("email"):
            keys.append(person)
    return Roster(engaged, presence, known, keys)


def engaged_people(state: AccountState, at: float, window_days: int) -> list[Person]:
    return roster(state, at, window_days).engaged


def has_activity(state: AccountState, today: int) -> bool:
    """Whether anyone at the account had logged in or used the product by `today` (a day
    judged behind the watermark can come before the first activity)."""
    if state.first_seen and day_of(state.first_seen) > today:
        return False
    return bool(state.activity) or any(p["last_seen"] for p in state.people.values())


NO_ACTIVITY: Component = (None, "no login or usage yet", {})


def adoption(state: AccountState, today: int, window_days: int, core: CoreFeatures) -> Component:
    if not state.features:
        return None, "no feature usage reported", {}
    return _adoption(
        core_features_used(state, today, window_days, core), bool(core.globs), window_days
    )


@functools.lru_cache(maxsize=256)
def _adoption(used: int, core: bool, window_days: int) -> Component:
    kind = "core features" if core else "features"
    return (
        round(100 * min(used, ADOPTION_TARGET) / ADOPTION_TARGET),
        f"{used} {kind} used in the last {window_days} days ({ADOPTION_TARGET} or more wanted)",
        {"core_features_used": used, "target": ADOPTION_TARGET, "window_days": window_days},
    )


def core_features_used(
    state: AccountState, today: int, window_days: int, core: CoreFeatures
) -> int:
    """Distinct core features used on the last `window_days` days up to `today`."""
    first_ts = (today - window_days + 1) * DAY
    recent = [f for f, ts in state.features.items() if ts >= first_ts]
    return len([f for f in recent if core.match(f)]) if core.globs else len(recent)


@functools.lru_cache(maxsize=256)
def engagement(engaged: int, active: bool, window_days: int, wanted: int) -> Component:
    if not active:
        return NO_ACTIVITY
    return (
        round(100 * min(engaged, wanted) / wanted),
        f"{engaged} engaged stakeholder{'' if engaged == 1 else 's'} "
        f"in the last {window_days} days ({wanted} or more wanted)",
        {"engaged": engaged, "wanted": wanted, "window_days": window_days},
    )


def activity(state: AccountState, today: int, active: bool) -> Component:
    if not active:
        return NO_ACTIVITY
    observed = min(ACTIVITY_WINDOW_DAYS, today - day_of(state.first_seen) + 1)
    days = state.activity
    return _activity(
        len([d for d in range(today - observed + 1, today + 1) if d in days]), observed
    )


@functools.lru_cache(maxsize=256)
def _activity(active_days: int, observed: int) -> Component:
    return (
        round(100 * active_days / observed),
        f"active on {active_days} of the last {observed} days",
        {"active_days": active_days, "days": observed},
    )


def relationship(people: Roster, active: bool) -> Component:
    """Breadth across departments among the engaged people, and a champion and an executive
    sponsor who are there (status active) and engaged: a relationship that survives one
    person leaving."""
    if not active:
        return NO_ACTIVITY
    if not people.known:
        return None, "no department or role known (send stakeholder records)", {}
    departments = tuple(sorted({d for p in people.engaged if (d := p.get("department"))}))
    return _relationship(
        departments, people.presence["champion"], people.presence["executive_sponsor"]
    )


@functools.lru_cache(maxsize=1024)
def _relationship(departments: tuple[str, ...], champion: str, sponsor: str) -> Component:
    score = (
        BREADTH_POINTS * min(len(departments), BREADTH_TARGET) / BREADTH_TARGET
        + CHAMPION_POINTS * _PRESENCE_SHARE[champion]
        + SPONSOR_POINTS * _PRESENCE_SHARE[sponsor]
    )
    named = f"engaged people in {len(departments)} department{'' if len(departments) == 1 else 's'}"
    return (
        round(score),
        f"{named} ({BREADTH_TARGET} or more wanted); {_said('champion', champion)}; "
        f"{_said('executive sponsor', sponsor)}",
        {"departments": list(departments), "champion": champion, "executive_sponsor": sponsor},
    )


_PRESENCE_SHARE = {"engaged": 1.0, "not engaged": 0.5, "none": 0.0}


def _said(role: str, presence: str) -> str:
    return f"no {role}" if presence == "none" else f"{role} {presence}"


NO_TICKETS: Component = (
    100,
    f"0 open tickets updated in the last {SUPPORT_WINDOW_DAYS} days",
    {
        "open_tickets": 0,
        "high_or_urgent": 0,
        "opened_last_30_days": 0,
        "usual_per_30_days": 0.0,
        "csat": None,
    },
)


def support(state: AccountState, today: int) -> Component:
    if state.now == 0.0:
        return None, "no event yet", {}
    if not state.tickets and not state.opened_days and not state.csat:
        return NO_TICKETS
    oldest = today - SUPPORT_WINDOW_DAYS + 1
    penalty = opened = urgent = 0
    for ticket in state.tickets.values():
        if ticket["status"] == "open" and day_of(ticket["updated"] or ticket["opened"]) >= oldest:
            opened += 1
            penalty += SUPPORT_PENALTY[ticket["priority"]]
            urgent += ticket["priority"] in ("urgent", "high")
    recent, baseline = ticket_rate(state, today)
    recent_csat = [score for ts, score in state.csat[-3:] if day_of(ts) >= oldest]
    csat = round(sum(recent_csat) / len(recent_csat), 1) if recent_csat else None
    return _support(penalty, opened, urgent, recent, baseline, csat)


@functools.lru_cache(maxsize=1024)
def _support(
    penalty: int, opened: int, urgent: int, recent: int, baseline: float, csat: float | None
) -> Component:
    why = f"{opened} open tickets updated in the last {SUPPORT_WINDOW_DAYS} days"
    if urgent:
        why += f" ({urgent} high or urgent)"
    if recent >= RATE_MIN_TICKETS and recent >= RATE_FACTOR * baseline:
        penalty += RATE_PENALTY
        why += f", {recent} tickets opened in {RATE_DAYS} days (usually {baseline:g})"
    if csat is not None and csat <= 2:
        penalty += LOW_CSAT_PENALTY
        why += f", low satisfaction (CSAT {csat:.1f})"
    inputs = {
        "open_tickets": opened,
        "high_or_urgent": urgent,
        "opened_last_30_days": recent,
        "usual_per_30_days": baseline,
        "csat": csat,
    }
    return max(0, 100 - penalty), why, inputs


def ticket_rate(state: AccountState, today: int) -> tuple[int, float]:
    """Tickets opened in the last RATE_DAYS days, and the account's usual number per
    RATE_DAYS over the RATE_BASELINE_DAYS before them."""
    recent = before = 0
    for day, count in state.opened_days.items():
        age = today - day
        if 0 <= age < RATE_DAYS:
            recent += count
        elif RATE_DAYS <= age < RATE_DAYS + RATE_BASELINE_DAYS:
            before += count
    return recent, round(before * RATE_DAYS / RATE_BASELINE_DAYS, 1)


NO_SURVEY: Component = (None, f"no survey answer in the last {SENTIMENT_WINDOW_DAYS} days", {})


def sentiment(state: AccountState, today: int) -> Component:
    """The latest NPS answer of each respondent and the CSAT survey answers, of the last
    SENTIMENT_WINDOW_DAYS days: NPS mapped from -100..100 to 0..100, CSAT from 1..5 to 0..100,
    and the mean of the two when both have answers."""
    if not state.nps and not state.survey_csat:
        return NO_SURVEY
    oldest = today - SENTIMENT_WINDOW_DAYS + 1
    nps = [score for ts, score in state.nps.values() if day_of(ts) >= oldest]
    csat = [score for ts, score in state.survey_csat if day_of(ts) >= oldest]
    if not nps and not csat:
        return NO_SURVEY
    parts: list[float] = []
    reasons: list[str] = []
    inputs: dict[str, Any] = {}
    if nps:
        promoters = len([s for s in nps if s >= 9])
        detractors = len([s for s in nps if s <= 6])
        net = round(100 * (promoters - detractors) / len(nps))
        parts.append((net + 100) / 2)
        reasons.append(f"NPS {net:+d} from {len(nps)} respondent{'' if len(nps) == 1 else 's'}")
        inputs.update(nps=net, respondents=len(nps), promoters=promoters, detractors=detractors)
    if csat:
        mean = round(sum(csat) / len(csat), 1)
        parts.append(100 * (mean - 1) / 4)
        reasons.append(f"CSAT {mean:.1f} of 5 from {len(csat)} answers")
        inputs.update(csat=mean, csat_answers=len(csat))
    why = " and ".join(reasons) + f" in the last {SENTIMENT_WINDOW_DAYS} days"
    return round(sum(parts) / len(parts)), why, inputs


def band_of(score: int | None, red_below: int, green_from: int) -> str:
    if score is None:
        return "none"
    if score >= green_from:
        return "green"
    return "yellow" if score >= red_below else "red"


def compute_health(
    state: AccountState, at: float, card: Card, people: Roster | None = None
) -> dict[str, Any]:
    """{"score", "band", "components": {name: {"score", "weight", "why", "inputs"}},
    "scorecard_version"} at event time `at`. `people`, when the caller has it, is
    roster(state, at, the engaged window)."""
    today = day_of(at)
    window = card.rules.single_threaded.engaged_window_days
    if people is None:
        people = roster(state, at, window)
    active = has_activity(state, today)
    adoption_window = card.rules.low_adoption.window_days
    parts = {
        "adoption": adoption(state, today, adoption_window, card.core),
        "engagement": engagement(
            len(people.engaged), active, window, card.rules.single_threaded.min_engaged
        ),
        "activity": activity(state, today, active),
        "relationship": relationship(people, active),
        "support": support(state, today),
        "sentiment": sentiment(state, today),
    }
    components = {}
    counted_weight = weighted = 0.0
    for name, weight, written in card.health.weights.table:
        score, why, inputs = parts[name]
        components[name] = {"score": score, "weight": written, "why": why, "inputs": inputs}
        if score is not None:
            counted_weight += weight
            weighted += weight * score
    total = round(weighted / counted_weight) if counted_weight else None
    return {
        "score": total,
        "band": band_of(total, card.health.bands.red_below, card.health.bands.green_from),
        "components": components,
        "scorecard_version": card.version,
    }
