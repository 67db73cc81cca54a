"""Acknowledging an alert: a CSM says they are on it. The first acknowledgement of a trigger
is kept (a second changes nothing and is answered with the first). Escalations stop at it,
and the alert's Slack messages are edited to say who acknowledged (or snoozed) it: a
follow-up delivery each (notices ACKED, SNOOZED), which the alerts service sends once its
alert has gone (docs/alerting.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerts import escalations, silences
from services.alerts.leases import DELIVERED, PENDING
from services.alerts.notices import ACKED, ALERT, SNOOZED
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
    """Record the acknowledgement unless one is there; the one kept. Each step can be done
    again (a retried request completes what a failed one began)."""
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
        kept = Acknowledged(trigger_id, row.acknowledged_by, as_utc(row.acknowledged_at))
        await escalations.stop(conn, trigger_id, f"acknowledged by {kept.by} before it was due")
        await _update_messages(conn, trigger_id, ACKED, f"Acknowledged by {kept.by}", now)
    return kept


async def _update_messages(
    conn: AsyncConnection, trigger_id: str, notice: str, note: str, now: datetime
) -> None:
    """A pending update (`notice`) of each Slack message the trigger's alert went, or may
    still go, out as; one per message, whatever the retries."""
    c = deliveries.c
    alerts = await conn.execute(
        select(c.dedup_key, c.receiver, c.channel, c.target, c.account_id, c.payload).where(
            (c.trigger_id == trigger_id)
            & (c.notice == ALERT)
            & (c.channel == "slack")
            & c.status.in_((PENDING, DELIVERED))
        )
    )
    rows = [
        {
            **alert._asdict(),
            "notice": notice,
            "note": note,
            "trigger_id": trigger_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for alert in alerts
    ]
    if rows:
        await conn.execute(
            insert(conn, deliveries).on_conflict_do_nothing(
                index_elements=["dedup_key", "receiver", "channel", "notice"]
            ),
            rows,
        )


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
    async with engine.begin() as conn:
        note = f"Snoozed for {days} days by {by}"
        await _update_messages(conn, alert.trigger_id, SNOOZED, note, now)
    return silence_id, ends
