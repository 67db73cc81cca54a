"""A fired trigger in words: the condition its rule checked, with the thresholds it fired at
(kept in its details, so a later scorecard change does not rewrite the past), and the values
it saw. Pure functions of the stored trigger event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.contracts.triggers import TriggerEvent

# Details that are the rule's thresholds, not what it saw.
THRESHOLDS = {
    "plan_limit_80": ("fire_ratio", "rearm_ratio"),
    "plan_limit_100": ("fire_ratio", "rearm_ratio"),
    "nps_detractor": ("max_score",),
    "support_spike": ("min_tickets", "factor", "cooldown_days"),
    "low_adoption": ("min_core_features", "window_days", "after_days"),
    "usage_decline": ("drop", "rearm_drop", "min_baseline"),
    "advocacy_ready": ("min_score",),
    "single_threaded": ("min_engaged", "hold_days", "engaged_window_days"),
    "health_red": ("red_below", "rearm_at"),
    "champion_quiet": ("quiet_days", "others_active_days"),
    "renewal_window": ("window_days",),
    "renewal_at_risk": ("window_days",),
    "onboarding_stalled": ("hours", "team_size", "team_days"),
    "login_frequency_up": ("min_users", "daily_days", "cooldown_days"),
    "seat_growth": ("min_added", "min_ratio", "cooldown_days"),
    "expansion_ready": ("min_core_features", "cooldown_days"),
}


def explanation(trigger: TriggerEvent) -> dict[str, Any]:
    thresholds = THRESHOLDS.get(trigger.type, ())
    return {
        "condition": condition(trigger),
        "thresholds": {k: v for k, v in trigger.details.items() if k in thresholds},
        "values": {k: v for k, v in trigger.details.items() if k not in thresholds},
        "scorecard_version": trigger.scorecard_version,
    }


def condition(trigger: TriggerEvent) -> str:
    words = CONDITIONS.get(trigger.type)
    try:
        return words(trigger.details) if words else trigger.summary
    except KeyError:  # fired before its rule recorded its thresholds
        return trigger.summary


Details = dict[str, Any]


def _plan_limit(d: Details) -> str:
    return (
        f"{d['metric']} used in the plan period {d['period']} reached "
        f"{d['fire_ratio']:.0%} of the plan's limit of {d['limit']:,.0f} "
        f"(it ends once usage falls below {d['rearm_ratio']:.0%})"
    )


def _single_threaded(d: Details) -> str:
    return (
        f"fewer than {d['min_engaged']} engaged stakeholders (people with a login or usage "
        f"in the last {d['engaged_window_days']} days), or all of them in one department, "
        f"for {d['hold_days']} days in a row"
    )


def _health_red(d: Details) -> str:
    return (
        f"the health score fell below {d['red_below']} (it ends once the score is back "
        f"at {d['rearm_at']} or more); the weakest components are named in the values"
    )


def _champion_left(d: Details) -> str:
    return (
        f"a stakeholder record says a person whose role is {d['role'].replace('_', ' ')} "
        "has left the account"
    )


def _champion_quiet(d: Details) -> str:
    return (
        f"a person whose role is {d['role'].replace('_', ' ')} has had no login or usage for "
        f"{d['quiet_days']} days while others of the account were active in the last "
        f"{d['others_active_days']} days (it ends at their next login or usage)"
    )


def _support_spike(d: Details) -> str:
    return (
        f"at a ticket opened, {d['min_tickets']} or more tickets opened in the 7 days up to "
        f"it, and at least {d['factor']:g} times the account's usual week (the tickets "
        f"opened in the 12 weeks before, over 12); not again for {d['cooldown_days']} days"
    )


def _low_adoption(d: Details) -> str:
    return (
        f"fewer than {d['min_core_features']} distinct core features used in the last "
        f"{d['window_days']} days, judged from {d['after_days']} days after the start (it "
        f"ends once {d['min_core_features']} or more are in use)"
    )


def _usage_decline(d: Details) -> str:
    return (
        "the logins and usage events of the last 14 whole days fell to "
        f"{1 - d['drop']:.0%} or less of a usual fortnight (half of the 28 days before "
        f"them, at least {d['min_baseline']} events); it ends once they are back at "
        f"{1 - d['rearm_drop']:.0%}"
    )


def _renewal_window(d: Details) -> str:
    return f"the renewal date {d['renewal_date']} is {d['window_days']} days away or less"


def _renewal_at_risk(d: Details) -> str:
    return (
        f"the renewal date {d['renewal_date']} is {d['window_days']} days away or less and "
        "the health band is not green"
    )


def _onboarding_stalled(d: Details) -> str:
    milestone = d["milestone"]
    if milestone == "first_login":
        return f"no login within {d['hours']} hours of the start ({d['start']})"
    if milestone == "first_core_feature":
        return f"no core feature used within {d['hours']} hours of the start ({d['start']})"
    return (
        f"fewer than {d['team_size']} people active in the first {d['team_days']} days "
        f"after the start ({d['start']})"
    )


def _login_frequency_up(d: Details) -> str:
    return (
        f"{d['min_users']} or more people who logged in on 2 to 8 of the days 15 to 28 days "
        f"ago logged in on {d['daily_days']} or more of the last 14 days; not again for "
        f"{d['cooldown_days']} days"
    )


def _seat_growth(d: Details) -> str:
    return (
        f"the people active in the last 30 days outnumber those of the 30 days before by "
        f"{d['min_added']} or more and by a factor of {d['min_ratio']:g} or more; not again "
        f"for {d['cooldown_days']} days"
    )


def _expansion_ready(d: Details) -> str:
    return (
        f"a green account with {d['min_core_features']} or more core features in use in the "
        "last 30 days and an expansion signal (a plan limit near, or seats or logins growing "
        f"in the last 30 days); not again for {d['cooldown_days']} days"
    )


CONDITIONS: dict[str, Callable[[Details], str]] = {
    "plan_limit_80": _plan_limit,
    "plan_limit_100": _plan_limit,
    "single_threaded": _single_threaded,
    "health_red": _health_red,
    "champion_left": _champion_left,
    "champion_quiet": _champion_quiet,
    "nps_detractor": lambda d: f"an NPS answer of {d['max_score']} or less (a detractor)",
    "advocacy_ready": lambda d: (
        f"an NPS answer of {d['min_score']} or more while the account is green and no "
        "risk trigger is active"
    ),
    "support_spike": _support_spike,
    "low_adoption": _low_adoption,
    "usage_decline": _usage_decline,
    "feature_request_higher_tier": lambda d: (
        f"a feature request for {d['feature']}, which the {d['plan']} plan lacks and the "
        f"{d['offered_by']} plan has"
    ),
    "renewal_window": _renewal_window,
    "renewal_at_risk": _renewal_at_risk,
    "onboarding_stalled": _onboarding_stalled,
    "login_frequency_up": _login_frequency_up,
    "seat_growth": _seat_growth,
    "expansion_ready": _expansion_ready,
}
