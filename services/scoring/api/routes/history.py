"""/v1/accounts/{account_id}/history: an account's health over time, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Row

from services.scoring.api import models
from services.scoring.api.account_rows import account_row
from services.scoring.api.answers import read_answers
from services.scoring.api.cursors import decode_cursor, encode_cursor, moment_part
from services.scoring.api.deps import Reads
from services.scoring.api.params import AccountId
from services.scoring.tables import accounts, health_history
from shared.clock import iso
from shared.contracts.messages import parse_event_time
from shared.db.engine import read_rows

router = APIRouter(prefix="/accounts", tags=["accounts"])
h = health_history.c


@router.get("/{account_id}/history", **read_answers(models.HistoryPage, one_account=True))
async def get_history(
    account_id: AccountId,
    reads: Reads,
    since: str | None = None,
    until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A point per change of score or band, with its cause: a signal (its signal_id), the
    tick, or a scorecard change (its version). Points are kept 400 days."""
    await account_row(reads, account_id, accounts.c.account_id)  # a 404 for one never named
    query = (
        select(h.id, h.at, h.score, h.band, h.components, h.cause_kind, h.cause)
        .where(h.account_id == account_id)
        .order_by(h.at, h.id)
        .limit(limit + 1)
    )
    if since:
        query = query.where(h.at >= _moment("since", since))
    if until:
        query = query.where(h.at < _moment("until", until))
    if cursor:
        moment, after = decode_cursor(cursor, moment_part, _id_part)
        query = query.where(or_(h.at > moment, and_(h.at == moment, h.id > after)))
    rows = await read_rows(reads, query)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "account_id": account_id,
        "points": [_point(row) for row in rows[:limit]],
        "next_cursor": encode_cursor([last.at.isoformat(), last.id]) if last else None,
    }


def _moment(name: str, value: str) -> datetime:
    try:
        return parse_event_time(value)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _id_part(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError
    return value


def _point(row: Row[Any]) -> dict[str, Any]:
    cause: dict[str, Any] = {"kind": row.cause_kind}
    if row.cause_kind == "signal":
        cause["signal_id"] = row.cause
    elif row.cause_kind == "scorecard":
        cause["version"] = row.cause
    return {
        "at": iso(row.at),
        "score": row.score,
        "band": row.band,
        "components": orjson.loads(row.components),
        "cause": cause,
    }
