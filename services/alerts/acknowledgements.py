"""Acknowledging an alert: a CSM says they are on it. The first acknowledgement of a trigger
is kept (a second changes nothing and is answered with the first). Escalations stop at it
(docs/alerting.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import silences
from services.alerts.tables import acknowledgements, deliveries
from shared.clock import as_utc
from shared.db.bulk import insert


@dataclass(frozen=True)
class Acknowledged:
    trigger_id: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Alerted:
    """What the deliveries of a trigger say about it: its account and type."""

    trigger_id: str
    account_id: str
    type: str


async def alerted(engine: AsyncEngine, trigger_id: str) -> Alerted | None:
    """The trigger as the alerts service received it; None if it made no delivery."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(deliveries.c.account_id, deliveries.c.dedup_key)
                .where(deliveries.c.trigger_id == trigger_id)
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    # dedup_key is "{account_id}:{type}:{tail}" (docs/contract.md, "Trigger events").
    kind = row.dedup_key[len(row.account_id) + 1 :].split(":", 1)[0]
    return Alerted(trigger_id, row.account_id, kind)


async def acknowledge(engine: AsyncEngine, trigger_id: str, by: str, now: datetime) -> Acknowledged:
    """Record the acknowledgement unless one is there; the one kept."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(conn, acknowledgements).on_conflict_do_nothing(index_elements=["trigger_id"]),
            [{"trigger_id": trigger_id, "acknowledged_by": by, "acknowledged_at": now}],
        )
        row = (
            await conn.execute(
                select(acknowledgements).where(acknowledgements.c.trigger_id == trigger_id)
            )
        ).one()
    return Acknowledged(trigger_id, row.acknowledged_by, as_utc(row.acknowledged_at))


async def snooze(
    engine: AsyncEngine, alert: Alerted, days: int, by: str, now: datetime
) -> tuple[str, datetime]:
    """A silence on the alert's account and trigger type for `days` days: its id and end."""
    ends = now + timedelta(days=days)
    silence_id = await silences.create(
        engine,
        matchers=[
            {"name": "account_id", "value": alert.account_id, "isRegex": False, "isEqual": True},
            {"name": "type", "value": alert.type, "isRegex": False, "isEqual": True},
        ],
        starts_at=now,
        ends_at=ends,
        created_by=by,
        comment=f"snoozed for {days} days from alert {alert.trigger_id}",
        now=now,
    )
    return silence_id, ends
