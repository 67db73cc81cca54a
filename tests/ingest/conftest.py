"""Ingest under test: the real service as a task, a producer for its inputs, and a reader of
what it wrote (signals and dead letters), all on the session's Tansu broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer

from services.ingest.settings import IngestSettings
from shared.kafka import EmbeddedBroker
from tests.helpers.in_process import Outputs, open_outputs


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", max_request_size=16 * 1024 * 1024
    )
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def outputs_factory(
    broker: EmbeddedBroker,
) -> AsyncIterator[Callable[[IngestSettings], Awaitable[Outputs]]]:
    opened: list[Outputs] = []

    async def make(settings: IngestSettings) -> Outputs:
        opened.append(await open_outputs(broker.bootstrap, settings))
        return opened[-1]

    yield make
    for outputs in opened:
        await outputs.consumer.stop()
