"""The alerts page's data: fired triggers, newest first, each with its deliveries (status per
receiver and channel) and acknowledgement, and the silences."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import silences
from services.alerts.tables import acknowledgements, deliveries
from services.scoring.api.models import DeliveryStatus, TriggerType
from services.scoring.api.routes.triggers import list_triggers
from services.scoring.ui.account_view import explained
from shared.db.engine import read_rows

FEED_SIZE = 50
TRIGGER_TYPES: tuple[str, ...] = get_args(TriggerType)
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


@dataclass(frozen=True)
class FeedFilters:
    account_id: str | None = None
    type: str | None = None
    status: str | None = None  # a delivery status: triggers with a delivery in it


async def load_feed(engine: AsyncEngine, filters: FeedFilters) -> list[dict[str, Any]]:
    fired = await list_triggers(
        engine,
        account_id=filters.account_id,
        type=filters.type,  # type: ignore[arg-type]  # checked against TRIGGER_TYPES
        since=None,
        limit=FEED_SIZE,
        cursor=None,
    )
    triggers = [explained(t) for t in fired["triggers"]]
    sent = await _deliveries_of(engine, [t["trigger_id"] for t in triggers])
    feed = []
    for trigger in triggers:
        rows = sent.get(trigger["trigger_id"], [])
        if filters.status and not any(r["status"] == filters.status for r in rows):
            continue
        acked = next((r for r in rows if r["acknowledged_by"]), None)
        feed.append(
            {
                **trigger,
                "deliveries": rows,
                "acknowledged_by": acked["acknowledged_by"] if acked else None,
                "acknowledged_at": acked["acknowledged_at"] if acked else None,
            }
        )
    return feed


async def _deliveries_of(
    engine: AsyncEngine, trigger_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The deliveries of these triggers, in one read."""
    if not trigger_ids:
        return {}
    c = deliveries.c
    query = (
        select(
            c.trigger_id,
            c.receiver,
            c.channel,
            c.status,
            c.attempts,
            c.last_error,
            acknowledgements.c.acknowledged_by,
            acknowledgements.c.acknowledged_at,
        )
        .join(acknowledgements, acknowledgements.c.trigger_id == c.trigger_id, isouter=True)
        .where(c.trigger_id.in_(trigger_ids), c.notice == "alert")
        .order_by(c.trigger_id, c.receiver, c.channel)
    )
    by_trigger: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in await read_rows(engine, query):
        by_trigger[row.trigger_id].append(dict(row._mapping))
    return by_trigger


async def silences_shown(engine: AsyncEngine, now: datetime) -> list[dict[str, Any]]:
    return [
        {"silence": s, "state": s.state(now), "matchers": _in_words(s.matchers)}
        for s in await silences.listed(engine)
    ]


def _in_words(matchers: list[dict[str, Any]]) -> str:
    def one(m: dict[str, Any]) -> str:
        operator = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else "!="
        if not m.get("isEqual", True) and m.get("isRegex"):
            operator = "!~"
        return f'{m["name"]}{operator}"{m["value"]}"'

    return ", ".join(one(m) for m in matchers)
