"""A fired trigger in words: the condition its rule checked, with the thresholds it fired at
(kept in its details, so a later scorecard change does not rewrite the past), and the values
it saw. Pure functions of the stored trigger event."""

from __future__ import annotations

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
    d = trigger.details
    if trigger.type in ("plan_limit_80", "plan_limit_100") and "fire_ratio" in d:
        return (
            f"{d['metric']} used in the plan period {d['period']} reached "
            f"{d['fire_ratio']:.0%} of the plan's limit of {d['limit']:,.0f} "
            f"(it ends once usage falls below {d['rearm_ratio']:.0%})"
        )
    if trigger.type == "single_threaded" and "min_engaged" in d:
        return (
            f"fewer than {d['min_engaged']} engaged stakeholders (people with a login or usage "
            f"in the last {d['engaged_window_days']} days), or all of them in one department, "
            f"for {d['hold_days']} days in a row"
        )
    if trigger.type == "health_red" and "red_below" in d:
        return (
            f"the health score fell below {d['red_below']} (it ends once the score is back "
            f"at {d['rearm_at']} or more); the weakest components are named in the values"
        )
    if trigger.type == "champion_left":
        return (
            f"a stakeholder record says a person whose role is {d['role'].replace('_', ' ')} "
            "has left the account"
        )
    if trigger.type == "nps_detractor":
        return f"an NPS answer of {d['max_score']} or less (a detractor)"
    if trigger.type == "advocacy_ready":
        return (
            f"an NPS answer of {d['min_score']} or more while the account is green and no "
            "risk trigger is active"
        )
    if trigger.type == "support_spike":
        return (
            f"at a ticket opened, {d['min_tickets']} or more tickets opened in the 7 days up to "
            f"it, and at least {d['factor']:g} times the account's usual week (the tickets "
            f"opened in the 12 weeks before, over 12); not again for {d['cooldown_days']} days"
        )
    if trigger.type == "low_adoption":
        return (
            f"fewer than {d['min_core_features']} distinct core features used in the last "
            f"{d['window_days']} days, judged from {d['after_days']} days after the start (it "
            f"ends once {d['min_core_features']} or more are in use)"
        )
    if trigger.type == "usage_decline":
        return (
            "the logins and usage events of the last 14 whole days fell to "
            f"{1 - d['drop']:.0%} or less of a usual fortnight (half of the 28 days before "
            f"them, at least {d['min_baseline']} events); it ends once they are back at "
            f"{1 - d['rearm_drop']:.0%}"
        )
    if trigger.type == "feature_request_higher_tier":
        return (
            f"a feature request for {d['feature']}, which the {d['plan']} plan lacks and the "
            f"{d['offered_by']} plan has"
        )
    return trigger.summary  # fired before its rule recorded its thresholds
