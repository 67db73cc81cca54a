"""Consumer offsets stored in the database, in the same transaction as the effects of the
records they cover (the consumer loop, streaming.py, drives them).

A move advances an offset only from the value this consumer last stored, so a consumer that
lost its partitions to a rebalance it did not notice fails its store (Fenced) instead of
overwriting the new owner's progress. Each offset keeps a fingerprint of the record before it
(shared/logcheck.py).
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.engine import is_postgres
from shared.db.tables import consumer_offsets
from shared.logcheck import Stored, fingerprint


class Fenced(Exception):
    """Another consumer stored progress for a partition this instance thought it owned."""


class OffsetMoves:
    """The offsets one batch advances: partition -> (last stored, new), with the fingerprint
    of the record before each new offset (shared/logcheck.py)."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.moves: dict[TopicPartition, tuple[int | None, int]] = {}
        self.last_records: dict[TopicPartition, int] = {}

    def advance(self, tp: TopicPartition, stored: int | None, last: ConsumerRecord) -> None:
        self.moves[tp] = (stored, last.offset + 1)
        self.last_records[tp] = fingerprint(last)

    async def store(self, conn: AsyncConnection) -> None:
        known = {tp: move for tp, move in self.moves.items() if move[0] is not None}
        if known and is_postgres(conn):
            await _advance_all(conn, self.group_id, known, self.last_records)
        else:
            for tp, (expected, new) in known.items():
                await _advance(conn, self.group_id, tp, expected, new, self.last_records.get(tp))
        for tp, (expected, new) in self.moves.items():
            if expected is None:
                await _advance(conn, self.group_id, tp, expected, new, self.last_records.get(tp))


_ADVANCE_ALL = """
UPDATE consumer_offsets AS o
SET next_offset = m.new, last_record = COALESCE(m.last_record, o.last_record)
FROM unnest($2::text[], $3::int4[], $4::int8[], $5::int8[], $6::int8[])
  AS m(topic, partition, expected, new, last_record)
WHERE o.group_id = $1 AND o.topic = m.topic AND o.partition = m.partition
  AND o.next_offset = m.expected
"""


async def _advance_all(
    conn: AsyncConnection,
    group_id: str,
    moves: dict[TopicPartition, tuple[int | None, int]],
    last_records: dict[TopicPartition, int],
) -> None:
    """Every partition's move in one round trip (PostgreSQL); all or none, or Fenced."""
    tps = list(moves)
    columns = (
        [tp.topic for tp in tps],
        [tp.partition for tp in tps],
        [moves[tp][0] for tp in tps],
        [moves[tp][1] for tp in tps],
        [last_records.get(tp) for tp in tps],
    )
    result = await conn.exec_driver_sql(_ADVANCE_ALL, (group_id, *columns))
    if result.rowcount != len(tps):
        where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps))
        raise Fenced(f"another consumer stored progress for some of {where}")


async def _advance(
    conn: AsyncConnection,
    group_id: str,
    tp: TopicPartition,
    expected: int | None,
    new: int,
    last_record: int | None,
) -> None:
    key = (
        (consumer_offsets.c.group_id == group_id)
        & (consumer_offsets.c.topic == tp.topic)
        & (consumer_offsets.c.partition == tp.partition)
    )
    if expected is None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    consumer_offsets.insert().values(
                        group_id=group_id,
                        topic=tp.topic,
                        partition=tp.partition,
                        next_offset=new,
                        last_record=last_record,
                    )
                )
        except IntegrityError:
            raise Fenced(f"{tp.topic}[{tp.partition}] was stored by another consumer") from None
        return
    result = await conn.execute(
        update(consumer_offsets)
        .where(key & (consumer_offsets.c.next_offset == expected))
        .values(
            next_offset=new, last_record=func.coalesce(last_record, consumer_offsets.c.last_record)
        )
    )
    if result.rowcount != 1:
        raise Fenced(f"{tp.topic}[{tp.partition}] moved past {expected} in another consumer")


async def rewind(
    engine: AsyncEngine, group_id: str, tp: TopicPartition, stored: int, start: int
) -> None:
    """Move a stored offset back to the start of a replaced log, fenced like a flush; the old
    log's fingerprint goes with it."""
    c = consumer_offsets.c
    async with engine.begin() as conn:
        result = await conn.execute(
            update(consumer_offsets)
            .where(
                (c.group_id == group_id)
                & (c.topic == tp.topic)
                & (c.partition == tp.partition)
                & (c.next_offset == stored)
            )
            .values(next_offset=start, last_record=None)
        )
    if result.rowcount != 1:
        raise Fenced(f"{tp.topic}[{tp.partition}] moved past {stored} in another consumer")


async def load_offsets(
    engine: AsyncEngine, group_id: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, Stored]:
    if not partitions:
        return {}
    wanted = or_(
        *(
            and_(consumer_offsets.c.topic == tp.topic, consumer_offsets.c.partition == tp.partition)
            for tp in partitions
        )
    )
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                consumer_offsets.c.topic,
                consumer_offsets.c.partition,
                consumer_offsets.c.next_offset,
                consumer_offsets.c.last_record,
            ).where((consumer_offsets.c.group_id == group_id) & wanted)
        )
        return {TopicPartition(t, p): Stored(int(o), last) for t, p, o, last in rows}
