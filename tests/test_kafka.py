"""Kafka plumbing on the real broker."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from harness.waiting import wait_for
from services.cli import UpSettings
from shared.kafka import EmbeddedBroker, KeyedBatches, ensure_topics


async def test_hand_built_batches_land_where_the_producer_would_put_them(
    broker: EmbeddedBroker,
) -> None:
    topic = f"batches-{uuid.uuid4().hex[:8]}"
    await ensure_topics(UpSettings(kafka_bootstrap_servers=broker.bootstrap), [topic])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_batch_size=16384)
    await producer.start()
    try:
        keys = [f"account-{i}".encode() for i in range(300)]
        expected = {}
        for key in keys:  # the producer's own choice of partition, per key
            expected[key] = (await producer.send_and_wait(topic, b"probe", key=key)).partition
        batches = KeyedBatches(producer, {topic: len(await producer.partitions_for(topic))})
        for key in keys:
            await batches.add(topic, key, b"x" * 200)  # several batches per partition
        await batches.add(topic, keys[0], b"y" * 100_000)  # too big for a batch
        futures = await batches.flush()
        assert len(futures) > 8
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        seen: list[tuple[bytes, int, bytes]] = []

        async def everything() -> bool:
            batch = await reader.getmany(timeout_ms=200)
            seen.extend((r.key, r.partition, r.value) for rs in batch.values() for r in rs)
            return len(seen) >= 2 * len(keys) + 1

        await wait_for(everything, what="every record")
    finally:
        await reader.stop()
    for key, partition, value in seen:
        assert partition == expected[key], (key, value[:1])
    assert sorted(v[:1] for k, _, v in seen if k == keys[0]) == [b"p", b"x", b"y"]
