"""/v1/triggers: the triggers fired, newest first; /v1/triggers/{id}: one, explained."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import and_, or_, select

from services.scoring.api import models
from services.scoring.api.answers import INVALID, read_answers
from services.scoring.api.cursors import decode_cursor, encode_cursor, moment_part, text_part
from services.scoring.api.deps import Reads
from services.scoring.api.params import ACCOUNT_ID_MAX, NO_NUL
from services.scoring.tables import accounts, triggers
from services.scoring.triggers.explain import explanation
from shared.clock import iso
from shared.contracts.messages import parse_event_time
from shared.contracts.triggers import TriggerEvent
from shared.db.engine import read_rows

router = APIRouter(prefix="/triggers", tags=["triggers"])


@router.get("", **read_answers(models.TriggerPage))
async def list_triggers(
    reads: Reads,
    account_id: Annotated[
        str | None, Query(min_length=1, max_length=ACCOUNT_ID_MAX, pattern=NO_NUL)
    ] = None,
    type: models.TriggerType | None = None,
    since: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    query = (
        select(triggers.c.payload, triggers.c.fired_at, triggers.c.trigger_id)
        .order_by(triggers.c.fired_at.desc(), triggers.c.trigger_id.desc())
        .limit(limit + 1)
    )
    if account_id:
        query = query.where(triggers.c.account_id == account_id)
    if type:
        query = query.where(triggers.c.type == type)
    if since:
        try:
            query = query.where(triggers.c.fired_at >= parse_event_time(since))
        except ValueError as exc:
            raise HTTPException(422, f"since: {exc}") from None
    if cursor:
        moment, after = decode_cursor(cursor, moment_part, text_part)
        query = query.where(
            or_(
                triggers.c.fired_at < moment,
                and_(triggers.c.fired_at == moment, triggers.c.trigger_id < after),
            )
        )
    rows = await read_rows(reads, query)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "triggers": [orjson.loads(r.payload) for r in rows[:limit]],
        "next_cursor": (
            encode_cursor([last.fired_at.isoformat(), last.trigger_id]) if last else None
        ),
    }


@router.get(
    "/{trigger_id}",
    response_model=None,
    responses={
        200: {"model": models.TriggerExplained},
        404: {"model": models.Refusal, "description": "no trigger has this id"},
        422: INVALID,
    },
)
async def get_trigger(
    reads: Reads,
    trigger_id: Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)],
) -> dict[str, Any]:
    """The trigger, whether it is still firing, and why it fired: the condition in words,
    the thresholds and values at firing, and the scorecard that set them."""
    rows = await read_rows(
        reads,
        select(triggers.c.payload, triggers.c.resolved_at).where(
            triggers.c.trigger_id == trigger_id
        ),
    )
    if not rows:
        raise HTTPException(404, f"no trigger has the id {trigger_id!r}")
    row = rows[0]
    trigger = TriggerEvent.model_validate_json(row.payload)
    active = await read_rows(
        reads, select(accounts.c.health).where(accounts.c.account_id == trigger.account_id)
    )
    firing = any(
        t.get("trigger_id") == trigger_id
        for r in active
        for t in orjson.loads(r.health or "{}").get("active_triggers", [])
    )
    return {
        "trigger": orjson.loads(row.payload),
        "status": "firing" if firing else "resolved",
        "resolved_at": iso(row.resolved_at) if row.resolved_at else None,
        "explanation": explanation(trigger),
    }
