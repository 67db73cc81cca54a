"""Rules judged at one moment, on one input: a champion who left (a stakeholder record), an
NPS detractor or a promoter on a healthy account (a survey answer), a request for a feature
of a higher plan or a spike of tickets (a support event). Pure functions, like rules.py.

Each fires once per dedup_key, ever, and has no episode to end: it is news, not a condition
that holds, so it does not stay in active_triggers (and an old detractor does not block an
account's advocacy for ever).
"""

from __future__ import annotations

import fnmatch

from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import DAY, date_of
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import cooling_down, fire_news, note_firing
from shared.contracts.signals import SupportSignal, SurveySignal
from shared.contracts.triggers import CATEGORIES, TriggerEvent

COMMENT_KEPT = 500


def champion_left(
    state: AccountState, person: Person, role_before: str | None, card: Card
) -> TriggerEvent | None:
    """A stakeholder record that says a person with a key role (in this record or the one
    before) has left. Records carry no event time: the account's clock is the moment, and an
    account without one yet (no event) is not judged."""
    rule = card.rules.champion_left
    role = person.get("role") or "user"
    key_role = role if role in rule.roles else role_before if role_before in rule.roles else None
    if not rule.enabled or person.get("status") != "left" or key_role is None or not state.now:
        return None
    email = person.get("email") or ""
    who = person.get("name") or email
    summary = f"{state.name}: {who}, the {key_role.replace('_', ' ')}, has left"
    details = {"email": email, "name": person.get("name"), "role": key_role}
    return fire_news(state, card, "champion_left", email, state.now, summary, details)


def survey_answered(
    state: AccountState, signal: SurveySignal, respondent: str, card: Card
) -> list[TriggerEvent]:
    """nps_detractor and advocacy_ready, judged on the health the answer left the account in."""
    if signal["survey"] != "nps":
        return []
    score, at = signal["score"], float(signal["ts"])
    answer = {"respondent": respondent, "score": score}
    if comment := signal.get("comment"):
        answer["comment"] = comment[:COMMENT_KEPT]
    fired = []
    detractor = card.rules.nps_detractor
    if detractor.enabled and score <= detractor.max_score:
        details = {**answer, "max_score": detractor.max_score}
        summary = f"{state.name}: {respondent} answered NPS {score} (a detractor)"
        tail = f"{respondent}:{date_of(at)}"
        fired.append(fire_news(state, card, "nps_detractor", tail, at, summary, details))
    promoter = card.rules.advocacy_ready
    if promoter.enabled and score >= promoter.min_score and _healthy(state):
        details = {**answer, "min_score": promoter.min_score}
        summary = f"{state.name}: {respondent} answered NPS {score} on a healthy account"
        tail = f"{respondent}:{date_of(at)[:4]}"
        fired.append(fire_news(state, card, "advocacy_ready", tail, at, summary, details))
    return fired


def _healthy(state: AccountState) -> bool:
    """Green, and no risk trigger active."""
    active = state.rules.get("active", {}).values()
    return state.health.get("band") == "green" and not any(
        CATEGORIES.get(t["type"]) == "risk" for t in active
    )


def feature_requested(
    state: AccountState, signal: SupportSignal, card: Card
) -> TriggerEvent | None:
    """A feature request for a feature the account's plan lacks and a higher plan of the
    scorecard has. An account whose plan the scorecard does not name is not judged: which
    plans are higher is unknown."""
    rule = card.rules.feature_request_higher_tier
    ticket = state.tickets.get(signal["ticket_id"], {})
    feature = ticket.get("requested_feature")
    if not rule.enabled or ticket.get("category") != "feature_request" or not feature:
        return None
    names = [plan.name.lower() for plan in card.plans]
    current = str(state.plan.get("name") or "").lower()
    if current not in names:
        return None
    rank = names.index(current)
    if any(_offers(plan.features, feature) for plan in card.plans[: rank + 1]):
        return None
    higher = next((p for p in card.plans[rank + 1 :] if _offers(p.features, feature)), None)
    if higher is None:
        return None
    summary = (
        f"{state.name} asked for {feature}, which comes with {higher.name} "
        f"(they are on {card.plans[rank].name})"
    )
    details = {
        "ticket_id": signal["ticket_id"],
        "feature": feature,
        "plan": card.plans[rank].name,
        "offered_by": higher.name,
    }
    at = float(signal["ts"])
    return fire_news(
        state, card, "feature_request_higher_tier", signal["ticket_id"], at, summary, details
    )


def _offers(globs: list[str], feature: str) -> bool:
    return any(fnmatch.fnmatchcase(feature, glob) for glob in globs)


SPIKE_DAYS = 7  # the recent window; the usual rate comes from the 12 weeks before it
USUAL_WEEKS = 12


def support_spike(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """At a ticket opened at `at`: min_tickets or more opened in (at-7d, at], and factor times
    the account's usual week or more (those opened in (at-91d, at-7d], over 12). Not again
    for cooldown_days of event time after a firing."""
    rule = card.rules.support_spike
    if not rule.enabled or cooling_down(state, "support_spike", at, rule.cooldown_days):
        return None
    recent_from, usual_from = at - SPIKE_DAYS * DAY, at - (SPIKE_DAYS * (USUAL_WEEKS + 1)) * DAY
    recent = sum(1 for ts in state.openings if recent_from < ts <= at)
    before = sum(1 for ts in state.openings if usual_from < ts <= recent_from)
    usual = before / USUAL_WEEKS
    if recent < rule.min_tickets or recent < rule.factor * usual:
        return None
    note_firing(state, "support_spike", at)
    summary = (
        f"{state.name}: {recent} tickets opened in 7 days, against {usual:.1f} in a usual week"
    )
    details = {
        "opened_7_days": recent,
        "usual_per_week": round(usual, 2),
        "min_tickets": rule.min_tickets,
        "factor": rule.factor,
        "cooldown_days": rule.cooldown_days,
    }
    return fire_news(state, card, "support_spike", date_of(at), at, summary, details)
