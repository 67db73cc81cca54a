"""The account page's data, read through the functions the JSON routes answer with (the
account, its health, history, stakeholders, triggers and alerts), and what the page derives
from them: each history change with its cause, stakeholders by department with the gaps, and
what can be done about each active trigger."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.api.account_rows import HEALTH_COLUMNS, account_row
from services.scoring.api.routes.accounts import get_account
from services.scoring.api.routes.alerts import list_alerts
from services.scoring.api.routes.history import get_history
from services.scoring.api.routes.stakeholders import get_stakeholders
from services.scoring.api.routes.triggers import list_triggers
from services.scoring.scorecard.loading import Scorecard
from services.scoring.triggers.explain import explanation
from services.scoring.ui.access import PageRefused
from services.scoring.ui.charts import timeline
from services.scoring.ui.rendering import NOTHING
from shared.clock import iso
from shared.contracts.messages import parse_event_time
from shared.contracts.triggers import TriggerEvent

HISTORY_DAYS = 90
CHANGES_SHOWN = 30
MAX_POINTS = 10_000


@dataclass
class Change:
    at: datetime
    score: int | None
    band: str
    cause: str
    moved: list[str]  # "support 100 → 60", per component that changed


async def load_account(
    reads: AsyncEngine, account_id: str, scorecard: Scorecard, now: datetime
) -> dict[str, Any]:
    try:
        account = await get_account(account_id, reads)
    except HTTPException as exc:
        raise PageRefused(exc.status_code, str(exc.detail)) from None
    health = orjson.loads((await account_row(reads, account_id, *HEALTH_COLUMNS)).health)
    start = now - timedelta(days=HISTORY_DAYS)
    history = await _history_since(reads, account_id, start)
    people = (await get_stakeholders(account_id, reads, scorecard))["stakeholders"]
    fired = await list_triggers(
        reads, account_id=account_id, type=None, since=None, limit=100, cursor=None
    )
    alerts = await list_alerts(
        reads, account_id=account_id, status=None, receiver=None, limit=200, cursor=None
    )
    points = [(parse_event_time(p["at"]), p["score"]) for p in history]
    return {
        "account": account,
        "health": health,
        "chart": timeline(points, start, now),
        "chart_start": start,
        "changes": changes_of(history[-CHANGES_SHOWN - 1 :])[-CHANGES_SHOWN:][::-1],
        "departments": by_department(people),
        "gaps": relationship_gaps(people),
        "active": acting_on(health.get("active_triggers", []), fired["triggers"], alerts["alerts"]),
        "triggers": [explained(t) for t in fired["triggers"]],
        "firing": {t.get("trigger_id") for t in health.get("active_triggers", [])},
        "alerts": alerts["alerts"],
    }


async def _history_since(
    reads: AsyncEngine, account_id: str, start: datetime
) -> list[dict[str, Any]]:
    """The account's history points since `start`, oldest first, page after page of the
    history route, up to MAX_POINTS: beyond, more than 100 changes a day for 90 days, the
    chart and the changes stop at the MAX_POINTS-th (docs/ui.md)."""
    points: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await get_history(
            account_id, reads, since=iso(start), until=None, limit=1000, cursor=cursor
        )
        points += page["points"]
        cursor = page["next_cursor"]
        if cursor is None or len(points) >= MAX_POINTS:
            return points


def changes_of(points: list[dict[str, Any]]) -> list[Change]:
    changes, before = [], None
    for point in points:
        moved: list[str] = []
        if before is not None:
            for name, score in point["components"].items():
                was = before["components"].get(name)
                if was != score:
                    moved.append(f"{name} {_shown(was)} → {_shown(score)}")
        changes.append(
            Change(
                parse_event_time(point["at"]),
                point["score"],
                point["band"],
                _cause(point["cause"]),
                moved,
            )
        )
        before = point
    return changes


def _shown(score: Any) -> str:
    return NOTHING if score is None else str(score)


def _cause(cause: dict[str, Any]) -> str:
    if cause["kind"] == "signal":  # points charted before their causes were kept have none
        return f"event {cause['signal_id']}" if cause.get("signal_id") else "events"
    if cause["kind"] == "scorecard":
        return f"scorecard {cause.get('version')}"
    return "time passing (no event)"


def by_department(people: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for person in people:
        groups[person.get("department") or "unknown department"].append(person)
    return sorted(groups.items())


def relationship_gaps(people: list[dict[str, Any]]) -> list[str]:
    """What a CSM should fix in the account's relationships, in words."""
    active = [p for p in people if p.get("status") != "left"]
    gaps = []
    if not any(p.get("role") == "champion" for p in active):
        gaps.append("No champion")
    engaged = [p for p in active if p.get("engaged")]
    departments = {p["department"] for p in engaged if p.get("department")}
    if len(departments) <= 1:
        where = f" ({next(iter(departments))})" if departments else ""
        gaps.append(f"Engaged people in one department at most{where}")
    if len(engaged) < 3:
        gaps.append(f"{len(engaged)} engaged stakeholder(s)")
    return gaps


def acting_on(
    active: list[dict[str, Any]], fired: list[dict[str, Any]], alerts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each active trigger as fired (health keeps a digest of it) with its explanation,
    whether it was alerted (only an alert can be acknowledged or snoozed) and who
    acknowledged it."""
    events = {t["trigger_id"]: t for t in fired}
    alerted = {a["trigger_id"]: a for a in alerts}
    shown = []
    for digest in active:
        trigger = events.get(digest.get("trigger_id", ""), digest)
        alert = alerted.get(trigger.get("trigger_id", ""))
        shown.append(
            {
                **explained(trigger),
                "alerted": alert is not None,
                "acknowledged_by": alert["acknowledged_by"] if alert else None,
                "acknowledged_at": alert["acknowledged_at"] if alert else None,
            }
        )
    return shown


def explained(trigger: dict[str, Any]) -> dict[str, Any]:
    try:
        why = explanation(TriggerEvent.model_validate(trigger))["condition"]
    except ValueError:
        why = None  # an event of an older producer: shown without its condition
    return {**trigger, "condition": why}
