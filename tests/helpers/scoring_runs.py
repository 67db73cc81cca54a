"""Scoring's processor driven by hand, as the consumer loop drives it: batches of cs.signals
records with their offsets, ticks with their fence, on a wall clock the test moves; real
PostgreSQL and a real broker for the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from services.scoring.tables import triggers
from shared.kafka import create_producer
from shared.offsets import OffsetMoves

SIGNALS = TopicPartition("cs.signals", 0)


def records(signals: list[dict[str, Any]], first: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    """Signals as the records of cs.signals partition 0, from offset `first`."""
    return [
        ConsumerRecord(SIGNALS.topic, 0, first + n, 0, 0, b"k", orjson.dumps(s), None, 0, 0, [])
        for n, s in enumerate(signals)
    ]


class Scorer:
    """One processor owning partition 0, its offsets stored under `group`."""

    def __init__(self, processor: ScoringProcessor, wall: list[float], group: str) -> None:
        self.processor, self.wall, self.group = processor, wall, group
        self.offset = 0

    async def batch(self, signals: list[dict[str, Any]]) -> None:
        """Apply and store one batch."""
        batch = records(signals, self.offset)
        moves = OffsetMoves(self.group)
        moves.advance(SIGNALS, self.offset or None, batch[-1])
        await (await self.processor.process({SIGNALS: batch}, moves))()
        self.offset += len(batch)

    async def tick(self) -> None:
        """A whole round of the tick."""
        fence = self.fence()
        while await self.processor.tick(fence):
            pass

    async def idle(self) -> None:
        """A turn of the loop that brought no record."""
        await self.processor.idle(self.fence())

    def fence(self) -> OffsetMoves:
        fence = OffsetMoves(self.group)
        if self.offset:
            fence.moves[SIGNALS] = (self.offset, self.offset)
        return fence

    async def keys(self, account_id: str) -> list[str]:
        """The account's trigger keys stored so far, without the account id."""
        async with self.processor.engine.connect() as conn:
            keys = await conn.scalars(
                select(triggers.c.dedup_key).where(triggers.c.account_id == account_id)
            )
            return sorted(key.split(":", 1)[1] for key in keys)


def watermarked(database_url: str, bootstrap: str, idle_seconds: float = 30) -> ScoringSettings:
    """Scoring's settings with the watermark on (the contract's 30 idle seconds by default)."""
    return ScoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        watermark_idle_seconds=idle_seconds,
    )


@asynccontextmanager
async def scorer(
    settings: ScoringSettings, engine: AsyncEngine, wall: list[float], group: str
) -> AsyncIterator[Scorer]:
    """A Scorer on `wall`'s clock, with a started producer (its triggers are relayed)."""
    producer = create_producer(settings)
    await producer.start()
    try:
        processor = ScoringProcessor(settings, engine, producer, clock=lambda: wall[0])
        await processor.assign([SIGNALS])
        yield Scorer(processor, wall, group)
    finally:
        await producer.stop()
