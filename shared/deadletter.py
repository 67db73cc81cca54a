"""Dead letters: the original bytes, untouched (so they can be replayed), with the reason and
the source position in headers, on the dead-letter topic."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata

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
    headers = [
        (REASON, reason[:_MAX_REASON].encode()),
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (SERVICE, service.encode()),
    ]
    return await producer.send(topic, value=record.value, key=record.key, headers=headers)


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    """A dead letter's headers as text, for operators' tools and tests."""
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}
