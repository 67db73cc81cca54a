"""Ingest when the signals topic's partition count changes under it, on the real broker: it
stops rather than route an account by a count other producers no longer use, and leaves the
batch it held uncommitted, for the ingest started after the change (which routes by the new
count from its first batch)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from harness.waiting import wait_for
from services.cli import UpSettings
from shared.errors import PartitionsChanged
from shared.kafka import EmbeddedBroker
from tests.helpers.in_process import ingesting, open_outputs
from tests.helpers.ingest_examples import encode, example
from tests.helpers.partitions import accounts_moved, recreate_topic


async def test_ingest_stops_when_the_signals_partition_count_changes(
    broker: EmbeddedBroker,
    settings_factory: Callable[..., UpSettings],
    producer: AIOKafkaProducer,
) -> None:
    settings = settings_factory(partition_check_seconds=0)  # asks before every batch
    [moved] = accounts_moved(4, 8)
    usage_topic = settings.topics.product_usage
    with pytest.raises(PartitionsChanged, match="now has 8 partitions; this ingest routed acc"):
        async with ingesting(settings) as readiness:
            before = await open_outputs(broker.bootstrap, settings)
            await producer.send_and_wait(usage_topic, encode(example("usage", event_id="u-a")))
            await before.wait(signals=1)
            await before.consumer.stop()

            await recreate_topic(broker.bootstrap, settings.topics.signals, 8)
            after = await open_outputs(broker.bootstrap, settings_factory(topic_partitions=8))
            message = example("usage", event_id="u-b", account_id=moved)
            held = await producer.send_and_wait(usage_topic, encode(message), key=moved.encode())
            await wait_for(
                lambda: "partitions" in readiness.problems.get("ingest", ""),
                what="ingest to refuse the new count",
            )
    await after.settle(0.5)
    await after.consumer.stop()
    assert after.signals == []
    assert await committed(broker, settings, held.topic_partition) <= held.offset


async def committed(broker: EmbeddedBroker, settings: UpSettings, tp: TopicPartition) -> int:
    reader = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=settings.group("ingest"),
        enable_auto_commit=False,
    )
    await reader.start()
    try:
        return await reader.committed(tp) or 0
    finally:
        await reader.stop()
