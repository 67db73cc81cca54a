"""Reading one account's stored row, as the account routes and HealthReads do."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from fastapi import HTTPException
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts.packing import unpack_account
from services.scoring.accounts.state import AccountState
from services.scoring.tables import accounts
from shared.clock import iso
from shared.db.engine import read_rows

HEALTH_COLUMNS = (accounts.c.health, accounts.c.updated_at)


async def account_row(engine: AsyncEngine, account_id: str, *columns: Any) -> Any:
    """The account's row (`columns` of it, or all); a 404 for an account never named."""
    rows = await read_rows(engine, one_account(columns), {"account_id": account_id})
    if not rows:
        raise HTTPException(
            404, f"account {account_id!r} has never been named by an event or record"
        )
    return rows[0]


@functools.cache
def one_account(columns: tuple[Any, ...]) -> Select[Any]:
    """One statement object per column set: SQLAlchemy memoizes its cache key on the object,
    which a statement built per request would compute again."""
    account_id = bindparam("account_id", type_=accounts.c.account_id.type)
    return select(*(columns or [accounts])).where(accounts.c.account_id == account_id)


def state_of(row: Any) -> AccountState:
    return unpack_account(row.account_id, row.partition, row.state)


def health_json(row: Any) -> bytes:
    """The health answer of a row with HEALTH_COLUMNS, as the route and HealthReads send it."""
    return orjson.dumps({**orjson.loads(row.health), "updated_at": iso(row.updated_at)})
