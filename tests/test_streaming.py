"""Offsets stored with the effects, on the real PostgreSQL: progress and fencing; and the
loops' pause between attempts."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.offsets import Fenced, OffsetMoves, load_offsets
from shared.streaming import sleep_or_stop

A, B = TopicPartition("signals", 0), TopicPartition("signals", 1)


async def stored_offsets(engine: AsyncEngine) -> dict[TopicPartition, int]:
    return {tp: s.offset for tp, s in (await load_offsets(engine, "scoring", [A, B])).items()}


async def _store(engine: AsyncEngine, moves: dict[TopicPartition, tuple[int | None, int]]) -> None:
    offsets = OffsetMoves("scoring")
    offsets.moves.update(moves)
    async with engine.begin() as conn:
        await offsets.store(conn)


async def test_offsets_advance_only_from_what_this_consumer_last_stored(
    engine: AsyncEngine,
) -> None:
    await _store(engine, {A: (None, 10), B: (None, 5)})
    await _store(engine, {A: (10, 25), B: (5, 7)})
    assert await stored_offsets(engine) == {A: 25, B: 7}
    # A zombie that still believes partition B stands at 5 is fenced, and nothing it sent
    # lands: not even the move of partition A that was right.
    with pytest.raises(Fenced):
        await _store(engine, {A: (25, 30), B: (5, 9)})
    assert await stored_offsets(engine) == {A: 25, B: 7}
    with pytest.raises(Fenced):  # a second "first" store of a partition
        await _store(engine, {B: (None, 3)})
    assert await stored_offsets(engine) == {A: 25, B: 7}


async def test_a_bulk_upsert_is_part_of_its_transaction(engine: AsyncEngine) -> None:
    """The effects and the offsets land together or not at all."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from services.scoring.tables import accounts
    from shared.db.bulk import upsert

    row = {
        "account_id": "acme",
        "partition": 0,
        "name": None,
        "score": 50,
        "band": "yellow",
        "profile": None,
        "health": "{}",
        "recent_records": "[]",
        "state": b"{}",
        "updated_at": datetime.now(UTC),
    }
    with pytest.raises(Fenced):
        async with engine.begin() as conn:
            await upsert(conn, accounts, [row])
            offsets = OffsetMoves("scoring")
            offsets.moves[A] = (99, 100)  # nothing stored at 99: fenced
            await offsets.store(conn)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(accounts))).scalar() == 0
    async with engine.begin() as conn:
        await upsert(conn, accounts, [row, {**row, "account_id": "globex"}])
        await upsert(conn, accounts, [{**row, "score": 10, "band": "red"}])
    async with engine.connect() as conn:
        stored = (await conn.execute(select(accounts.c.account_id, accounts.c.score))).all()
    assert sorted(stored) == [("acme", 10), ("globex", 50)]


async def test_a_service_cancelled_as_its_stop_is_set_still_ends() -> None:
    # A crash-like cancel that lands just as the pause ends must not be lost, or the task runs
    # on: asyncio.wait_for on Python 3.11 returned normally in that case (a test hung on it).
    stop = asyncio.Event()
    paused = asyncio.create_task(sleep_or_stop(stop, 60))
    await asyncio.sleep(0)
    stop.set()  # and, before the paused task runs again:
    paused.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paused
