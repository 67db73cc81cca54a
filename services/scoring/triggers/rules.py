"""Trigger rules: pure functions over an account's state, edge-triggered like alerting rules.

Each rule fires on the transition into its condition, once per dedup_key, and re-arms only
once the condition has cleared (below a lower threshold where a number is involved). A rule's
own state (armed, pending since, firing) lives in `state.rules`, so it survives restarts with
the rest of the account. Time is the account's event time, so replaying history fires the same
triggers as processing it live.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import DAY, date_of, day_of, months_in, period_of
from services.scoring.health.score import core_features_used, engaged_people
from services.scoring.scorecard.model import Card, TriggerType
from shared.clock import from_ts, iso
from shared.contracts.triggers import CATEGORIES, TriggerAccount, TriggerEvent, TriggerHealth

TRIGGER_NAMESPACE = uuid.UUID("6f1c1d52-8a53-4e0e-9a58-2b3f1f0d7a11")


def trigger_id_of(dedup_key: str) -> str:
    """Deterministic: a trigger re-derived after a crash carries the same id."""
    return str(uuid.uuid5(TRIGGER_NAMESPACE, dedup_key))


def fire_news(
    state: AccountState,
    card: Card,
    kind: str,
    tail: str,
    at: float,
    summary: str,
    details: dict[str, Any],
) -> TriggerEvent:
    """The trigger event of a rule that fired, as it leaves the account now."""
    dedup_key = f"{state.account_id}:{kind}:{tail}"
    return TriggerEvent(
        trigger_id=trigger_id_of(dedup_key),
        type=kind,
        account_id=state.account_id,
        fired_at=from_ts(at),
        severity=getattr(card.rules, kind).severity,
        category=CATEGORIES[kind],
        scorecard_version=card.version,
        playbook=card.playbooks.get(cast(TriggerType, kind)),
        dedup_key=dedup_key,
        summary=summary,
        details=details,
        health=health_of(state),
        account=account_of(state),
    )


# Rules with several episodes at once (a metric each, a person each): keyed by dedup_key in
# active_triggers, where the others are keyed by type.
MANY_EPISODES = ("plan_limit_80", "plan_limit_100", "champion_quiet")


def activate(state: AccountState, trigger: TriggerEvent) -> TriggerEvent:
    """Keep a rule's trigger in active_triggers until its episode ends."""
    active = state.rules.setdefault("active", {})
    active[trigger.dedup_key if trigger.type in MANY_EPISODES else trigger.type] = {
        "trigger_id": trigger.trigger_id,
        "type": trigger.type,
        "dedup_key": trigger.dedup_key,
        "fired_at": iso(trigger.fired_at),
        "summary": trigger.summary,
    }
    return trigger


def is_active(state: AccountState, kind: str) -> bool:
    """Whether a rule whose episodes are keyed by type (not MANY_EPISODES) has one on."""
    return kind in state.rules.get("active", {})


def last_fired(state: AccountState, kind: str) -> float | None:
    """When a rule with a cooldown last fired (event time), if it has."""
    fired: float | None = state.rules.get(kind, {}).get("fired")
    return fired


def cooling_down(state: AccountState, kind: str, at: float, days: int) -> bool:
    """Within `days` of event time after the rule's last firing."""
    fired = last_fired(state, kind)
    return fired is not None and at < fired + days * DAY


def note_firing(state: AccountState, kind: str, at: float) -> None:
    state.rules[kind] = {"fired": at}


def health_of(state: AccountState) -> TriggerHealth:
    return TriggerHealth(score=state.health["score"], band=state.health["band"])


def account_of(state: AccountState) -> TriggerAccount:
    """The account as recorded now: the trigger carries it, so whoever receives the trigger
    (alerts, above all) needs nothing else to know whose account it is and who owns it."""
    return TriggerAccount.model_validate(state.profile or {})


def end_episode(state: AccountState, card: Card, key: str, at: float) -> TriggerEvent | None:
    """End an episode: its trigger leaves active_triggers, and goes out again as resolved
    (same trigger_id and dedup_key; the outbox adds the firing's details), at `at`."""
    entry = state.rules.setdefault("active", {}).pop(key, None)
    if entry is None:
        return None
    kind = entry["type"]
    return TriggerEvent(
        trigger_id=entry["trigger_id"],
        type=kind,
        account_id=state.account_id,
        fired_at=entry["fired_at"],
        severity=getattr(card.rules, kind).severity,
        category=CATEGORIES[kind],
        status="resolved",
        resolved_at=from_ts(at),
        scorecard_version=card.version,
        playbook=card.playbooks.get(cast(TriggerType, kind)),
        dedup_key=entry["dedup_key"],
        summary=entry["summary"],
        health=health_of(state),
        account=account_of(state),
    )


# --- plan_limit_80 and plan_limit_100 ------------------------------------------------------


def used_of(state: AccountState, metric: str, period_key: str) -> float:
    """Seats fall back to distinct users seen in the period; gauges ignore periods."""
    if metric in state.gauges:
        return state.gauges[metric][0]
    months = months_in(period_key)
    if metric == "seats":
        period = set(months)
        return float(
            sum(
                1
                for p in state.people.values()
                if not period.isdisjoint(p["months"]) and p.get("status") != "left"
            )
        )
    by_month = state.usage.get(metric, {})
    return sum(by_month.get(m, 0.0) for m in months)


PLAN_LIMITS = ("plan_limit_80", "plan_limit_100")
# Where each plan-limit rule keeps its episodes (rule key -> dedup tail) in state.rules.
EPISODES = {"plan_limit_80": "plan_limit", "plan_limit_100": "plan_limit_100"}


def check_plan_limits(
    state: AccountState, metric: str, at: float, card: Card
) -> list[TriggerEvent]:
    """Evaluate one metric in the plan period containing `at` (an event's own time), for
    plan_limit_80 and plan_limit_100: the usage is worked out once for both."""
    limit = state.plan.get("limits", {}).get(metric)
    if not limit or at == 0.0:
        return []
    period_key = period_of(at, state.plan.get("period", "month"))
    used = used_of(state, metric, period_key)
    fired = []
    for kind in PLAN_LIMITS:
        fired += _check_plan_limit(state, kind, metric, period_key, used, limit, at, card)
    return fired


def _check_plan_limit(
    state: AccountState,
    kind: str,
    metric: str,
    period_key: str,
    used: float,
    limit: float,
    at: float,
    card: Card,
) -> list[TriggerEvent]:
    """The firing, or the episodes that end (resolved events), of one plan-limit rule."""
    rule = getattr(card.rules, kind)
    if not rule.enabled:
        return []
    ratio = used / limit
    # Created at the first firing: an account that never reaches a limit stores nothing.
    firing: dict[str, str] = state.rules.get(EPISODES[kind], {})
    if not firing and ratio < rule.fire_ratio:  # most evaluations: nothing to end or fire
        return []
    # A gauge's episode spans periods; a delta metric starts afresh each period.
    rule_key = f"gauge|{metric}" if metric in state.gauges else f"delta|{metric}|{period_key}"
    ended = _end_past_periods(state, card, kind, firing, metric, period_key, at)
    dedup_tail = f"{metric}:{period_key}"
    if ratio >= rule.fire_ratio and rule_key not in firing:
        state.rules.setdefault(EPISODES[kind], firing)[rule_key] = dedup_tail
        when = "this month" if len(period_key) == 7 else "this year"
        if period_key != period_of(state.now, state.plan.get("period", "month")):
            when = f"in {period_key}"
        summary = f"{state.name} used {ratio:.0%} of {metric} ({used:,.0f} of {limit:,.0f}) {when}"
        details = {
            "metric": metric,
            "used": used,
            "limit": limit,
            "ratio": round(ratio, 4),
            "period": period_key,
            "fire_ratio": rule.fire_ratio,
            "rearm_ratio": rule.rearm_ratio,
            "expansion_gated": not adoption_gate_open(state, at, card),
        }
        return [
            *ended,
            activate(state, fire_news(state, card, kind, dedup_tail, at, summary, details)),
        ]
    if ratio < rule.rearm_ratio and rule_key in firing:
        tail = firing.pop(rule_key)
        if resolved := end_episode(state, card, f"{state.account_id}:{kind}:{tail}", at):
            ended.append(resolved)
    return ended


ADOPTION_GATE_DAYS = 30


def adoption_gate_open(state: AccountState, at: float, card: Card) -> bool:
    """The playbooks' rule before any expansion move: at least expansion_ready's
    min_core_features core features used in the last 30 days."""
    used = core_features_used(state, day_of(at), ADOPTION_GATE_DAYS, card.core)
    return used >= card.rules.expansion_ready.min_core_features


def end_removed_limits(state: AccountState, card: Card, at: float) -> list[TriggerEvent]:
    """A limit the plan no longer has cannot be near: its episodes end with the record."""
    limits = state.plan.get("limits", {})
    ended = []
    for kind in PLAN_LIMITS:
        firing = state.rules.get(EPISODES[kind], {})
        for key in [k for k in firing if k.split("|")[1] not in limits]:
            ended.append(
                end_episode(state, card, f"{state.account_id}:{kind}:{firing.pop(key)}", at)
            )
    return [t for t in ended if t is not None]


def _end_past_periods(
    state: AccountState,
    card: Card,
    kind: str,
    firing: dict[str, str],
    metric: str,
    period_key: str,
    at: float,
) -> list[TriggerEvent]:
    """A delta metric starts from zero each period: episodes of earlier periods are over."""
    prefix = f"delta|{metric}|"
    past = [k for k in firing if k.startswith(prefix) and k[len(prefix) :] < period_key]
    ended = [
        end_episode(state, card, f"{state.account_id}:{kind}:{firing.pop(k)}", at) for k in past
    ]
    return [t for t in ended if t is not None]


# --- single_threaded -----------------------------------------------------------------------


def check_single_threaded(
    state: AccountState, at: float, card: Card, engaged: list[Person] | None = None
) -> TriggerEvent | None:
    """`engaged`, when the caller has it, is engaged_people(state, at, the engaged window)."""
    params = card.rules.single_threaded
    if not params.enabled:
        return None
    people = engaged_people(state, at, params.engaged_window_days) if engaged is None else engaged
    departments = {p.get("department") for p in people}
    few = len(people) < params.min_engaged
    one_department = bool(people) and None not in departments and len(departments) == 1
    # A new account gets its onboarding fortnight (grace_days, whole days like every window)
    # before it is judged at all.
    in_grace = not state.start or day_of(at) < day_of(state.start) + params.grace_days
    rule = state.rules.setdefault("single_threaded", {"state": "inactive", "since": 0.0})
    if in_grace or not (few or one_department):
        ended = (
            end_episode(state, card, "single_threaded", at) if rule["state"] == "firing" else None
        )
        rule.update(state="inactive", since=0.0)
        return ended
    if rule["state"] == "inactive":
        rule.update(state="pending", since=at)
    # Held for whole days (like every window), so nothing changes within a day.
    held = day_of(at) - day_of(rule["since"])
    if rule["state"] != "pending" or held < params.hold_days:
        return None
    rule["state"] = "firing"
    if few:
        why = (
            f"only {len(people)} engaged stakeholder{'s' if len(people) != 1 else ''} "
            f"(fewer than {params.min_engaged})"
        )
    else:
        why = f"all {len(people)} engaged stakeholders in {next(iter(departments))}"
    details = {
        "engaged": len(people),
        "departments": sorted(d for d in departments if d),
        "people": sorted(p.get("email") or p.get("user_id") or "" for p in people)[:20],
        "since": iso(rule["since"]),
        "held_days": held,
        "min_engaged": params.min_engaged,
        "hold_days": params.hold_days,
        "engaged_window_days": params.engaged_window_days,
    }
    summary = f"{state.name} is single-threaded: {why} for {held} days"
    since = date_of(rule["since"])
    return activate(state, fire_news(state, card, "single_threaded", since, at, summary, details))


# --- health_red ----------------------------------------------------------------------------


def check_health_red(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    if not card.rules.health_red.enabled:
        return None
    red_below, margin = card.health.bands.red_below, card.rules.health_red.rearm_margin
    score = state.health["score"]
    if score is None:  # no data to judge by (contract: not judged)
        return None
    rule = state.rules.setdefault("health_red", {"state": "inactive", "since": 0.0})
    if rule["state"] == "firing":
        if score >= red_below + margin:
            rule.update(state="inactive", since=0.0)
            return end_episode(state, card, "health_red", at)
        return None
    if score >= red_below:
        return None
    rule.update(state="firing", since=at)
    components = state.health["components"]
    weakest = sorted((c["score"], n) for n, c in components.items() if c["score"] is not None)[:2]
    reasons = ", ".join(f"{n} {s}" for s, n in weakest)
    details = {
        "score": score,
        "band": state.health["band"],
        "components": {n: c["score"] for n, c in components.items()},
        "weakest": [n for _, n in weakest],
        "red_below": red_below,
        "rearm_at": red_below + margin,
    }
    summary = f"{state.name}'s health fell to {score} (red): {reasons}"
    return activate(state, fire_news(state, card, "health_red", date_of(at), at, summary, details))
