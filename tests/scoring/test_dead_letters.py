"""Scoring's dead letters go out once: stored with the batch that made them, relayed after it
committed, however often the batch is tried."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from shared.config import Topics
from shared.deadletter import REASON, headers_of
from shared.kafka import EmbeddedBroker, create_producer, ensure_topics
from shared.offsets import OffsetMoves

SENTINEL = b"sentinel"


async def dead_letters_before_the_sentinel(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Everything on the dead-letter topic up to a sentinel sent after it: what is there."""
    # earliest: assign()'s own reset may answer after seek_to_beginning's, and win.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen: list[ConsumerRecord] = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.value == SENTINEL:
                    return seen
                seen.append(record)
    finally:
        await consumer.stop()


async def test_a_batch_tried_twice_sends_its_dead_letter_once(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = ScoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_partitions=1,
        topics=Topics(signals=f"{tag}.signals", dead_letter=f"{tag}.dead-letter"),
    )
    await ensure_topics(settings, [settings.topics.signals, settings.topics.dead_letter])
    producer = create_producer(settings)
    await producer.start()
    try:
        processor = ScoringProcessor(settings, engine, producer)
        tp = TopicPartition(settings.topics.signals, 0)
        poison = ConsumerRecord(tp.topic, 0, 0, 0, 0, b"acme", b"not json", None, 0, 8, [])
        await processor.assign([tp])

        # The first try's write never happens (the database went away, say): the loop drops
        # its state and reads the batch again.
        first = OffsetMoves("pulse-scoring")
        first.advance(tp, None, poison)
        await processor.process({tp: [poison]}, first)
        await processor.revoke([tp])
        await processor.assign([tp])
        again = OffsetMoves("pulse-scoring")
        again.advance(tp, None, poison)
        await (await processor.process({tp: [poison]}, again))()

        await producer.send_and_wait(settings.topics.dead_letter, SENTINEL)
    finally:
        await producer.stop()
    [letter] = await dead_letters_before_the_sentinel(broker.bootstrap, settings.topics.dead_letter)
    assert letter.value == b"not json"
    assert "scoring could not apply signal" in headers_of(letter)[REASON]
