"""/v1/triggers: the triggers fired, newest first."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import and_, or_, select

from services.scoring.api import models
from services.scoring.api.answers import read_answers
from services.scoring.api.cursors import decode_cursor, encode_cursor, moment_part, text_part
from services.scoring.api.deps import Reads
from services.scoring.api.params import ACCOUNT_ID_MAX, NO_NUL
from services.scoring.tables import triggers
from shared.contracts.messages import parse_event_time
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
