"""Reading and writing accounts and triggers: one query to load a partition, one
transaction to store a batch (accounts, new triggers and offsets together)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.scoring.accounts.packing import pack_account
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.views import active_triggers
from services.scoring.health.history import Point, trend
from services.scoring.tables import accounts, accounts_layout, health_history, triggers
from shared.clock import from_ts, utcnow
from shared.contracts.triggers import TriggerEvent
from shared.db.bulk import append, insert, upsert

LOAD_CHUNK = 5000
MOVE_CHUNK = 500  # account ids per UPDATE: within SQLite's limit on bound parameters
LAYOUT_ID = 1  # accounts_layout has one row

AccountRow = dict[str, Any]  # the accounts table's columns, as account_row() builds them


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def load_partitions(
    engine: AsyncEngine, partitions: Iterable[int], chunk: int = LOAD_CHUNK
) -> AsyncIterator[Sequence[Row[str, int, bytes]]]:
    """The stored accounts of these partitions, as they are (account_id, partition, state),
    a chunk at a time: never a million row objects in flight at once."""
    wanted = list(partitions)
    if not wanted:
        return
    query = select(accounts.c.account_id, accounts.c.partition, accounts.c.state).where(
        accounts.c.partition.in_(wanted)
    )
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=chunk))
        async for rows in result.partitions():
            yield rows


async def recorded_partitions(engine: AsyncEngine) -> int | None:
    """The partition count the accounts are stored under, if one was recorded."""
    async with engine.connect() as conn:
        return await conn.scalar(
            select(accounts_layout.c.partitions).where(accounts_layout.c.id == LAYOUT_ID)
        )


async def record_first_partitions(engine: AsyncEngine, partitions: int) -> int:
    """Record the count unless one is recorded already (another instance was first); returns
    the recorded count."""
    async with engine.begin() as conn:
        row = {"id": LAYOUT_ID, "partitions": partitions, "recorded_at": utcnow()}
        await conn.execute(insert(conn, accounts_layout).on_conflict_do_nothing(), [row])
    recorded = await recorded_partitions(engine)
    assert recorded is not None
    return recorded


async def some_accounts(engine: AsyncEngine, limit: int) -> list[tuple[str, int]]:
    """Up to `limit` stored accounts, as (account_id, partition)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(accounts.c.account_id, accounts.c.partition).limit(limit))
        return [(a, p) for a, p in rows]


async def move_accounts(
    engine: AsyncEngine, partition_of: Callable[[str], int], partitions: int
) -> tuple[int, int]:
    """Give every stored account the partition `partition_of` says, and record `partitions`
    as the count they follow, in one transaction; returns (accounts, accounts moved)."""
    async with engine.begin() as conn:
        rows = (await conn.execute(select(accounts.c.account_id, accounts.c.partition))).all()
        moves: dict[int, list[str]] = {}
        for account_id, partition in rows:
            new = partition_of(account_id)
            if new != partition:
                moves.setdefault(new, []).append(account_id)
        for new, account_ids in moves.items():
            for start in range(0, len(account_ids), MOVE_CHUNK):
                chunk = account_ids[start : start + MOVE_CHUNK]
                await conn.execute(
                    update(accounts).where(accounts.c.account_id.in_(chunk)).values(partition=new)
                )
        row = {"id": LAYOUT_ID, "partitions": partitions, "recorded_at": utcnow()}
        await upsert(conn, accounts_layout, [row])
    return len(rows), sum(len(ids) for ids in moves.values())


def account_row(state: AccountState) -> AccountRow:
    health = {
        "account_id": state.account_id,
        **state.health,
        "trend": trend(state),
        "active_triggers": active_triggers(state),
        "updated_at": None,  # filled at read time from the row
    }
    return {
        "account_id": state.account_id,
        "partition": state.partition,
        "name": (state.profile or {}).get("name"),
        "score": state.health["score"],
        "band": state.health["band"],
        "profile": _dumps(state.profile) if state.profile is not None else None,
        "health": _dumps(health),
        "recent_records": _dumps(state.recent_records),
        "state": pack_account(state),
        "updated_at": utcnow(),
    }


async def store_accounts(conn: AsyncConnection, rows: list[AccountRow]) -> None:
    await upsert(conn, accounts, rows)


async def store_triggers(conn: AsyncConnection, fired: list[TriggerEvent]) -> list[TriggerEvent]:
    """Insert new triggers (the outbox) in one executemany (SQLAlchemy sends it as batched
    multi-row INSERTs); returns those not already stored for their dedup_key, in the order
    they fired."""
    if not fired:
        return []
    statement = insert(conn, triggers).on_conflict_do_nothing().returning(triggers.c.trigger_id)
    result = await conn.execute(statement, [_trigger_row(t) for t in fired])
    stored = set(result.scalars())
    new = []
    for trigger in fired:  # a trigger fired twice in one batch is new once
        if trigger.trigger_id in stored:
            stored.discard(trigger.trigger_id)
            new.append(trigger)
    return new


def _trigger_row(trigger: TriggerEvent) -> dict[str, Any]:
    return {
        "trigger_id": trigger.trigger_id,
        "dedup_key": trigger.dedup_key,
        "type": trigger.type,
        "account_id": trigger.account_id,
        "fired_at": trigger.fired_at,
        "severity": trigger.severity,
        "payload": trigger.to_json().decode(),
        "published": False,
    }


async def unpublished_triggers(engine: AsyncEngine, limit: int = 1000) -> list[TriggerEvent]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(triggers.c.payload)
            .where(triggers.c.published.is_(False))
            .order_by(triggers.c.fired_at)
            .limit(limit)
        )
        return [TriggerEvent.model_validate_json(p) for (p,) in rows]


async def mark_published(engine: AsyncEngine, trigger_ids: list[str]) -> None:
    if not trigger_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(triggers).where(triggers.c.trigger_id.in_(trigger_ids)).values(published=True)
        )


HISTORY_DAYS = 400


async def store_points(conn: AsyncConnection, points: list[Point]) -> None:
    await append(conn, health_history, points)


async def prune_history(engine: AsyncEngine, now: float) -> None:
    """Forget history points older than HISTORY_DAYS (wall clock)."""
    before = from_ts(now - HISTORY_DAYS * 86400)
    async with engine.begin() as conn:
        await conn.execute(health_history.delete().where(health_history.c.at < before))
