"""Reading and writing accounts and triggers: one query to load a partition, one
transaction to store a batch (accounts, new triggers and offsets together)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, bindparam, select, update
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
    """Store what the rules returned: new firings (the outbox, in one executemany that
    SQLAlchemy sends as batched multi-row INSERTs), then the episodes that ended. Returns the
    events newly stored, to relay, in the order they came: a trigger fired twice is new once,
    and so is its resolution."""
    if not fired:
        return []
    firings = [t for t in fired if t.status == "firing"]
    stored: set[str] = set()
    if firings:
        statement = insert(conn, triggers).on_conflict_do_nothing().returning(triggers.c.trigger_id)
        result = await conn.execute(statement, [_trigger_row(t) for t in firings])
        stored = set(result.scalars())
    resolved = await _store_resolutions(conn, [t for t in fired if t.status == "resolved"])
    new = []
    for trigger in fired:
        if trigger.status == "firing" and trigger.trigger_id in stored:
            stored.discard(trigger.trigger_id)
            new.append(trigger)
        elif trigger.status == "resolved" and trigger.trigger_id in resolved:
            new.append(resolved.pop(trigger.trigger_id))
    return new


async def _store_resolutions(
    conn: AsyncConnection, ended: list[TriggerEvent]
) -> dict[str, TriggerEvent]:
    """Resolve each firing once: the resolved event is the firing's own, stored, with its
    status, resolved_at, and the health and account of when it ended."""
    if not ended:
        return {}
    ids = [t.trigger_id for t in ended]
    rows = await conn.execute(
        select(triggers.c.trigger_id, triggers.c.payload)
        .where(triggers.c.trigger_id.in_(ids))
        .where(triggers.c.resolved_at.is_(None))
    )
    firing = {trigger_id: payload for trigger_id, payload in rows}
    resolved: dict[str, TriggerEvent] = {}
    for end in ended:
        if end.trigger_id in firing and end.trigger_id not in resolved:
            resolved[end.trigger_id] = TriggerEvent.model_validate_json(
                firing[end.trigger_id]
            ).model_copy(
                update={
                    "status": "resolved",
                    "resolved_at": end.resolved_at,
                    "health": end.health,
                    "account": end.account,
                }
            )
    if resolved:
        await conn.execute(
            update(triggers)
            .where(triggers.c.trigger_id == bindparam("ended_id"))
            .values(
                resolved_at=bindparam("ended_at"),
                resolved_payload=bindparam("ended_payload"),
                resolved_published=False,
            ),
            [
                {
                    "ended_id": t.trigger_id,
                    "ended_at": t.resolved_at,
                    "ended_payload": t.to_json().decode(),
                }
                for t in resolved.values()
            ],
        )
    return resolved


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
    """Firings and resolutions stored but not relayed, oldest first; a resolution only once
    its firing is out, so no consumer sees an episode end before it began."""
    t = triggers.c
    async with engine.connect() as conn:
        firings = await conn.execute(
            select(t.payload, t.fired_at)
            .where(t.published.is_(False))
            .order_by(t.fired_at)
            .limit(limit)
        )
        pending = list(firings)
        resolutions = await conn.execute(
            select(t.resolved_payload, t.resolved_at)
            .where(t.resolved_published.is_(False) & t.published.is_(True))
            .order_by(t.resolved_at)
            .limit(limit)
        )
        pending += list(resolutions)
    pending.sort(key=lambda row: row[1])
    return [TriggerEvent.model_validate_json(payload) for payload, _ in pending]


async def mark_published(engine: AsyncEngine, relayed: list[TriggerEvent]) -> None:
    firings = [t.trigger_id for t in relayed if t.status == "firing"]
    resolutions = [t.trigger_id for t in relayed if t.status == "resolved"]
    async with engine.begin() as conn:
        if firings:
            await conn.execute(
                update(triggers).where(triggers.c.trigger_id.in_(firings)).values(published=True)
            )
        if resolutions:
            await conn.execute(
                update(triggers)
                .where(triggers.c.trigger_id.in_(resolutions))
                .values(resolved_published=True)
            )


HISTORY_DAYS = 400


async def store_points(conn: AsyncConnection, points: list[Point]) -> None:
    await append(conn, health_history, points)


async def prune_history(engine: AsyncEngine, now: float) -> None:
    """Forget history points older than HISTORY_DAYS (wall clock)."""
    before = from_ts(now - HISTORY_DAYS * 86400)
    async with engine.begin() as conn:
        await conn.execute(health_history.delete().where(health_history.c.at < before))
