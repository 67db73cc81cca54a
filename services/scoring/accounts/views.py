"""What the API shows of an account, derived from its state when it is stored."""

from __future__ import annotations

from typing import Any

from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import period_of
from services.scoring.health.score import engaged_people
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import used_of
from shared.clock import iso


def usage_view(state: AccountState, at: float) -> dict[str, dict[str, Any]]:
    """{metric: {used, limit, ratio, period}} for the plan period containing `at`."""
    limits = state.plan.get("limits", {})
    period_key = period_of(at, state.plan.get("period", "month"))
    metrics = set(limits) | set(state.usage) | set(state.gauges)
    if any(p["months"] for p in state.people.values()):
        metrics.add("seats")
    view = {}
    for metric in sorted(metrics):
        used = used_of(state, metric, period_key)
        limit = limits.get(metric)
        view[metric] = {
            "used": used,
            "limit": limit,
            "ratio": round(used / limit, 4) if limit else None,
            "period": period_key,
        }
    return view


def stakeholders_view(state: AccountState, card: Card) -> list[dict[str, Any]]:
    window = card.rules.single_threaded.engaged_window_days
    engaged = {id(p) for p in engaged_people(state, state.now, window)}
    people = [
        {
            "email": p.get("email"),
            "user_id": p.get("user_id"),
            "name": p.get("name"),
            "title": p.get("title"),
            "department": p.get("department"),
            "role": p.get("role") or "user",
            "status": p.get("status") or "active",
            "last_seen": iso(p["last_seen"]) if p["last_seen"] else None,
            "engaged": id(p) in engaged,
        }
        for p in state.people.values()
    ]
    return sorted(people, key=lambda p: (not p["engaged"], p["email"] or p["user_id"] or ""))


def active_triggers(state: AccountState) -> list[dict[str, Any]]:
    return sorted(state.rules.get("active", {}).values(), key=lambda t: t["fired_at"])
