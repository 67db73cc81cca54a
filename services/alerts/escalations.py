"""Escalations of alerts nobody acknowledged (the routing file's `escalations`).

An escalation is a delivery of its own (notice "escalated") made with the alert, due `after`
the alert was consumed: its timer is the row's next_attempt_at, in the database, so it survives
restarts and any instance sends it, once. An acknowledgement ends it (`stop`); so does the
alert resolving, or a silence, as the worker finds when the row comes due (`why_not`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerts.leases import PENDING, SKIPPED
from services.alerts.notices import ESCALATED
from services.alerts.routing.plan import Escalation
from services.alerts.tables import acknowledgements, alert_states, deliveries


def note_of(after: float) -> str:
    return f"not acknowledged within {_duration(after)}"


def row_of(escalation: Escalation, base: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The deliveries row of an escalation of the alert whose row is `base` (silenced if the
    alert is: a muted alert was never seen, so nobody failed to acknowledge it)."""
    delivery = escalation.delivery
    return {
        **base,
        "receiver": delivery.receiver,
        "channel": delivery.channel,
        "target": delivery.target,
        "notice": ESCALATED,
        "note": note_of(escalation.after),
        "group_key": None,
        "next_attempt_at": now + timedelta(seconds=escalation.after),
    }


async def stop(conn: AsyncConnection, trigger_id: str, why: str) -> None:
    """End the trigger's escalations still to come, saying why."""
    c = deliveries.c
    await conn.execute(
        update(deliveries)
        .where((c.trigger_id == trigger_id) & (c.notice == ESCALATED) & (c.status == PENDING))
        .values(status=SKIPPED, last_error=why, lease_until=None)
    )


async def why_not(engine: AsyncEngine, trigger_id: str, dedup_key: str) -> str | None:
    """Why an escalation that came due is not sent (acknowledged, or resolved), or None."""
    async with engine.connect() as conn:
        ack = (
            await conn.execute(
                select(acknowledgements.c.acknowledged_by).where(
                    acknowledgements.c.trigger_id == trigger_id
                )
            )
        ).first()
        if ack is not None:
            return f"acknowledged by {ack.acknowledged_by} before it was due"
        firing = await conn.scalar(
            select(alert_states.c.firing).where(alert_states.c.dedup_key == dedup_key)
        )
    if firing is False:
        return "resolved before it was due"
    return None


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"
