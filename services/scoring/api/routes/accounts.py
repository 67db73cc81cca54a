"""/v1/accounts: an account's record, the account, the list of accounts, and its health."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, and_, or_, select

from services.scoring.accounts.views import usage_view
from services.scoring.api import models
from services.scoring.api.account_rows import HEALTH_COLUMNS, account_row, health_json, state_of
from services.scoring.api.answers import read_answers, write_answers
from services.scoring.api.cursors import (
    decode_cursor,
    encode_cursor,
    optional_score_part,
    text_part,
)
from services.scoring.api.deps import Reads, Writer
from services.scoring.api.params import AccountId
from services.scoring.tables import accounts
from shared.clock import iso
from shared.contracts.inputs import AccountFields, AccountRecord
from shared.db.engine import read_rows

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.put("/{account_id}", responses=write_answers(AccountRecord))
async def put_account(account_id: AccountId, record: AccountFields, writer: Writer) -> JSONResponse:
    body = {"account_id": account_id, **record.model_dump(mode="json", exclude_none=True)}
    applied = await writer.write("account", account_id, body)
    return JSONResponse(body, status_code=200 if applied else 202)


@router.get("/{account_id}", **read_answers(models.Account, one_account=True))
async def get_account(account_id: AccountId, reads: Reads) -> dict[str, Any]:
    row = await account_row(reads, account_id)
    state = state_of(row)
    profile = orjson.loads(row.profile) if row.profile else {}
    return {
        **profile,
        "account_id": account_id,
        "name": profile.get("name"),
        "health": {"score": row.score, "band": row.band},
        "usage": usage_view(state, state.now or row.updated_at.timestamp()),
        "updated_at": iso(row.updated_at),
    }


@router.get("", **read_answers(models.AccountPage))
async def list_accounts(
    reads: Reads,
    band: models.Band | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Worst first; accounts without a score (band none) after every scored one."""
    score = accounts.c.score
    query = (
        select(
            accounts.c.account_id,
            accounts.c.name,
            score,
            accounts.c.band,
            accounts.c.updated_at,
        )
        .order_by(score.asc().nulls_last(), accounts.c.account_id)
        .limit(limit + 1)
    )
    if band:
        query = query.where(accounts.c.band == band)
    if cursor:
        last_score, after = decode_cursor(cursor, optional_score_part, text_part)
        query = query.where(_after(last_score, after))
    rows = await read_rows(reads, query)
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "accounts": [_listed(row) for row in rows[:limit]],
        "next_cursor": encode_cursor([last.score, last.account_id]) if last else None,
    }


def _after(last_score: int | None, after: str) -> ColumnElement[bool]:
    """The rows after (last_score, after) in the list's order."""
    score, account_id = accounts.c.score, accounts.c.account_id
    if last_score is None:
        return and_(score.is_(None), account_id > after)
    return or_(
        score > last_score,
        and_(score == last_score, account_id > after),
        score.is_(None),
    )


def _listed(row: Any) -> dict[str, Any]:
    return {
        "account_id": row.account_id,
        "name": row.name,
        "score": row.score,
        "band": row.band,
        "updated_at": iso(row.updated_at),
    }


@router.get("/{account_id}/health", **read_answers(models.Health, one_account=True))
async def get_health(account_id: AccountId, reads: Reads) -> Response:
    # HealthReads (fast_health.py) answers this read when the account exists; this route,
    # the rest.
    row = await account_row(reads, account_id, *HEALTH_COLUMNS)
    return Response(health_json(row), media_type="application/json")
