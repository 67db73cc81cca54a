"""/v1/alerts: every delivery of every alert (and escalation), with its acknowledgement;
acknowledging an alert and snoozing it (a silence on its account and type). Acting needs a
write token. The notices that follow an alert (its resolved notice, the edits of its Slack
message) are not listed: they are about the alert, not alerts of their own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import and_, or_, select

from services.alerts import acknowledgements
from services.alerts.notices import ALERT, ESCALATED
from services.alerts.tables import acknowledgements as acks
from services.alerts.tables import deliveries
from services.scoring.api import models
from services.scoring.api.answers import act_answers, read_answers
from services.scoring.api.cursors import decode_cursor, encode_cursor, moment_part, text_part
from services.scoring.api.deps import Reads
from services.scoring.api.params import ACCOUNT_ID_MAX, NO_NUL
from shared.clock import iso, utcnow
from shared.db.engine import read_rows

router = APIRouter(prefix="/alerts", tags=["alerts"])

TriggerId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]
NO_ALERT = "no alert was made of a trigger with this id"


@router.get("", **read_answers(models.AlertPage))
async def list_alerts(
    reads: Reads,
    account_id: Annotated[
        str | None, Query(min_length=1, max_length=ACCOUNT_ID_MAX, pattern=NO_NUL)
    ] = None,
    status: models.DeliveryStatus | None = None,
    receiver: Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    c = deliveries.c
    order = (c.created_at, c.dedup_key, c.receiver, c.channel, c.notice)
    query = (
        select(deliveries, acks.c.acknowledged_by, acks.c.acknowledged_at)
        .join(acks, acks.c.trigger_id == c.trigger_id, isouter=True)
        .where(c.notice.in_((ALERT, ESCALATED)))
        .order_by(*(column.desc() for column in order))
        .limit(limit + 1)
    )
    for column, wanted in ((c.account_id, account_id), (c.status, status), (c.receiver, receiver)):
        if wanted:
            query = query.where(column == wanted)
    if cursor:
        moment, *after = decode_cursor(
            cursor, moment_part, text_part, text_part, text_part, text_part
        )
        query = query.where(
            or_(c.created_at < moment, and_(c.created_at == moment, _before(*after)))
        )
    rows = await read_rows(reads, query)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "alerts": [_shown(row) for row in rows[:limit]],
        "next_cursor": (
            encode_cursor(
                [iso(last.created_at), last.dedup_key, last.receiver, last.channel, last.notice]
            )
            if last
            else None
        ),
    }


def _before(*values: str) -> Any:
    """Rows after these values of (dedup_key, receiver, channel, notice) in the descending
    order of the listing."""
    c = deliveries.c
    columns = (c.dedup_key, c.receiver, c.channel, c.notice)
    return or_(
        *(
            and_(
                *(column == value for column, value in zip(columns[:n], values, strict=False)),
                columns[n] < values[n],
            )
            for n in range(len(columns))
        )
    )


def _shown(row: Any) -> dict[str, Any]:
    return {
        "trigger_id": row.trigger_id,
        "dedup_key": row.dedup_key,
        "account_id": row.account_id,
        "receiver": row.receiver,
        "channel": row.channel,
        "notice": row.notice,
        "status": row.status,
        "due_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "attempts": row.attempts,
        "recipient": row.recipient,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "delivered_at": iso(row.delivered_at) if row.delivered_at else None,
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": iso(row.acknowledged_at) if row.acknowledged_at else None,
    }


@router.post("/{trigger_id}/ack", **act_answers(models.Acknowledgement, unknown=NO_ALERT))
async def acknowledge(reads: Reads, trigger_id: TriggerId, ack: models.AckIn) -> dict[str, Any]:
    """The alert is being handled: kept with who said so (the first acknowledgement stays)."""
    if await acknowledgements.alerted(reads, trigger_id) is None:
        raise HTTPException(404, f"{NO_ALERT}: {trigger_id!r}")
    kept = await acknowledgements.acknowledge(reads, trigger_id, ack.by, utcnow())
    return {
        "trigger_id": kept.trigger_id,
        "acknowledged_by": kept.by,
        "acknowledged_at": iso(kept.at),
    }


@router.post("/{trigger_id}/snooze", **act_answers(models.Snoozed, unknown=NO_ALERT))
async def snooze(reads: Reads, trigger_id: TriggerId, snooze: models.SnoozeIn) -> dict[str, Any]:
    """A silence on the alert's account and trigger type for `days` days."""
    alert = await acknowledgements.alerted(reads, trigger_id)
    if alert is None:
        raise HTTPException(404, f"{NO_ALERT}: {trigger_id!r}")
    silence_id, ends = await acknowledgements.snooze(reads, alert, snooze.days, snooze.by, utcnow())
    return {"silenceID": silence_id, "endsAt": iso(ends)}
