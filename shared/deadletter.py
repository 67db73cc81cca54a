"""Dead letters: the original bytes, untouched (so they can be replayed), with the reason and
the source position in headers, on the dead-letter topic.

Ingest, which stores nothing, sends them before it commits past their originals. Scoring and
alerts store theirs in the dead_letters outbox with the batch's effects and offsets, and relay
them after the commit (DeadLetterOutbox): a batch tried again writes the same rows (their id
derives from the source record), so each dead letter goes out once."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.clock import utcnow
from shared.db.bulk import insert
from shared.db.tables import dead_letters
from shared.metrics import DEAD_LETTERS

REASON = "pulse-reason"
SOURCE_TOPIC = "pulse-source-topic"
SOURCE_PARTITION = "pulse-source-partition"
SOURCE_OFFSET = "pulse-source-offset"
SERVICE = "pulse-service"

# Readable, but bounded: a reason quoting a huge input must not become a huge header.
_MAX_REASON = 2000


async def dead_letter(
    producer: AIOKafkaProducer, topic: str, record: ConsumerRecord, reason: str, service: str
) -> asyncio.Future[RecordMetadata]:
    """Queue one dead letter; await the returned future before committing past `record`."""
    DEAD_LETTERS.labels(record.topic, service).inc()
    headers = _headers(record, reason, service)
    return await producer.send(topic, value=record.value, key=record.key, headers=headers)


def _headers(record: ConsumerRecord, reason: str, service: str) -> list[tuple[str, bytes]]:
    return [
        (REASON, reason[:_MAX_REASON].encode()),
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (SERVICE, service.encode()),
    ]


class DeadLetterOutbox:
    """The dead letters of one consumer: made while a batch is processed, stored in its
    transaction, relayed once it has committed."""

    def __init__(
        self, engine: AsyncEngine, producer: AIOKafkaProducer, *, topic: str, service: str
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.topic = topic
        self.service = service

    def letter(self, record: ConsumerRecord, reason: str) -> dict[str, object]:
        """The outbox row of a dead letter for `record`."""
        source = (
            f"{self.service}:{record.topic}:{record.partition}:{record.offset}:{record.timestamp}"
        )
        headers = [(k, v.decode()) for k, v in _headers(record, reason, self.service)]
        return {
            "id": hashlib.sha256(source.encode()).hexdigest(),
            "service": self.service,
            "source_topic": record.topic,
            "topic": self.topic,
            "key": record.key,
            "value": record.value,
            "headers": orjson.dumps(headers).decode(),
            "published": False,
            "created_at": utcnow(),
        }

    @staticmethod
    async def store(conn: AsyncConnection, letters: list[dict[str, object]]) -> None:
        if letters:
            statement = insert(conn, dead_letters).on_conflict_do_nothing(index_elements=["id"])
            await conn.execute(statement, letters)

    async def relay(self, limit: int = 1000) -> None:
        """Send this service's stored, unpublished dead letters, then mark them published.
        A failure leaves them for the next relay (at least once, like the triggers)."""
        c = dead_letters.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.id, c.source_topic, c.topic, c.key, c.value, c.headers)
                    .where(c.published.is_(False) & (c.service == self.service))
                    .order_by(c.created_at)
                    .limit(limit)
                )
            ).all()
        if not rows:
            return
        sends = [
            await self.producer.send(
                row.topic,
                value=row.value,
                key=row.key,
                headers=[(k, v.encode()) for k, v in orjson.loads(row.headers)],
            )
            for row in rows
        ]
        await asyncio.gather(*sends)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(dead_letters)
                .where(c.id.in_([row.id for row in rows]))
                .values(published=True)
            )
        for row in rows:
            DEAD_LETTERS.labels(row.source_topic, self.service).inc()


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    """A dead letter's headers as text, for operators' tools and tests."""
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}
