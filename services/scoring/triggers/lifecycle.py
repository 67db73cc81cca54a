"""Rules on the account's calendar: the renewal window and a renewal at risk, and the
onboarding milestones. Pure functions, like rules.py.

They change with the clock alone (a date is reached, a deadline passes), so the tick judges
them for accounts that send nothing. None has an episode to end: each fires once per renewal
date or milestone, and what was judged is kept in state.rules so that later evaluations cost
a comparison.
"""

from __future__ import annotations

from typing import Any

from services.scoring.accounts import daymask
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import DAY, date_of, day_of, start_of_date
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import fire_news
from shared.contracts.triggers import TriggerEvent

HOUR = 3600.0


def check_renewal(state: AccountState, at: float, card: Card) -> list[TriggerEvent]:
    """renewal_window: renewal_date - days <= clock < renewal_date, once per renewal_date.
    renewal_at_risk: inside that window while the band is neither green nor without data,
    once per renewal_date."""
    renewal = (state.profile or {}).get("renewal_date")
    if not renewal:
        return []
    days = card.rules.renewal_window.days
    ends = start_of_date(renewal)
    if not ends - days * DAY <= at < ends:
        return []
    done: dict[str, str] = state.rules.get("renewal", {})
    band = state.health.get("band")
    window = card.rules.renewal_window.enabled and done.get("window") != renewal
    at_risk = (
        card.rules.renewal_at_risk.enabled
        and band not in ("green", "none", None)
        and done.get("at_risk") != renewal
    )
    if not (window or at_risk):
        return []
    days_left = day_of(ends) - day_of(at)
    score = state.health.get("score")
    details: dict[str, Any] = {
        "renewal_date": renewal,
        "days_left": days_left,
        "window_days": days,
        "arr": (state.profile or {}).get("arr"),
        "band": band,
        "score": score,
    }
    fired = []
    if window:
        summary = f"{state.name} renews on {renewal}, in {days_left} days"
        fired.append(fire_news(state, card, "renewal_window", renewal, at, summary, details))
        done["window"] = renewal
    if at_risk:
        summary = (
            f"{state.name} renews on {renewal}, in {days_left} days, with health {score} ({band})"
        )
        fired.append(fire_news(state, card, "renewal_at_risk", renewal, at, summary, details))
        done["at_risk"] = renewal
    state.rules["renewal"] = done
    return fired


MILESTONES = ("first_login", "first_core_feature", "team")


def onboarding_start(state: AccountState) -> float:
    """The start_date's 00:00 UTC; 0.0 without one. Onboarding is judged only for accounts
    whose record gives a start date: the first event of an account seen for the first time
    (AccountPulse installed for long-standing customers) is the start of its data, not of
    its onboarding."""
    return state.start_date_at


def onboarding_deadlines(state: AccountState, card: Card) -> dict[str, float]:
    """Each milestone's deadline, from the start date."""
    rule, start = card.rules.onboarding_stalled, onboarding_start(state)
    return {
        "first_login": start + rule.first_login_hours * HOUR,
        "first_core_feature": start + rule.first_core_feature_hours * HOUR,
        "team": start + rule.team_days * DAY,
    }


def in_onboarding(state: AccountState, at: float, card: Card) -> bool:
    """While the clock is less than active_days past the start date."""
    start = onboarding_start(state)
    return bool(start) and at < start + card.rules.onboarding_stalled.active_days * DAY


def check_onboarding(state: AccountState, at: float, card: Card) -> list[TriggerEvent]:
    """onboarding_stalled, per milestone, judged once its deadline has passed (while the
    account is in onboarding): no login by first_login_hours after the start, no core feature
    by first_core_feature_hours, fewer than team_size active people in the first team_days."""
    rule = card.rules.onboarding_stalled
    if not rule.enabled or not in_onboarding(state, at, card):
        return []
    judged: list[str] = state.rules.get("onboarding", [])
    fired = []
    for milestone, deadline in onboarding_deadlines(state, card).items():
        if milestone in judged or at < deadline:
            continue
        judged = [*judged, milestone]
        missed = _missed(state, milestone, deadline, card)
        if missed is not None:
            summary, details = missed
            start = onboarding_start(state)
            details |= {"start": date_of(start), "deadline": date_of(deadline)}
            fired.append(
                fire_news(state, card, "onboarding_stalled", milestone, at, summary, details)
            )
    if judged:
        state.rules["onboarding"] = judged
    return fired


def _missed(
    state: AccountState, milestone: str, deadline: float, card: Card
) -> tuple[str, dict[str, Any]] | None:
    """The summary and details of a missed milestone; None if it was reached in time."""
    rule = card.rules.onboarding_stalled
    if milestone == "first_login":
        if state.firsts.get("login", deadline) < deadline:
            return None
        hours = rule.first_login_hours
        return f"{state.name}: no one has logged in {hours} hours after the start", {
            "milestone": milestone,
            "hours": hours,
        }
    if milestone == "first_core_feature":
        if state.firsts.get("core", deadline) < deadline:
            return None
        hours = rule.first_core_feature_hours
        return f"{state.name}: no core feature used {hours} hours after the start", {
            "milestone": milestone,
            "hours": hours,
        }
    first_day = day_of(onboarding_start(state))
    last_day = first_day + rule.team_days - 1
    team = sum(1 for p in state.people.values() if daymask.count(p.get("act"), first_day, last_day))
    if team >= rule.team_size:
        return None
    return (
        f"{state.name}: {team} active {'person' if team == 1 else 'people'} in the first "
        f"{rule.team_days} days (fewer than {rule.team_size})",
        {
            "milestone": milestone,
            "active_people": team,
            "team_size": rule.team_size,
            "team_days": rule.team_days,
        },
    )
