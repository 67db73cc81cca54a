"""Scoring under test: the real service (consumer and HTTP API) as a task on the session's
broker and database, a producer for its input, and an HTTP client for its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.cli import UpSettings
from shared.kafka import EmbeddedBroker, free_port


@pytest.fixture
def scoring_settings(settings_factory: Any) -> UpSettings:
    settings: UpSettings = settings_factory(api_port=free_port(), api_write_wait_seconds=5)
    return settings


@pytest.fixture
async def send(broker: EmbeddedBroker, scoring_settings: UpSettings) -> AsyncIterator[Any]:
    """send(signal, ...) produces signals (as ingest writes them) to the signals topic."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()

    async def send_signals(*signals: dict[str, Any] | bytes, arrived: float | None = None) -> None:
        """`arrived`: when ingest published them (epoch seconds); now if not given."""
        stamp = None if arrived is None else int(arrived * 1000)
        for signal in signals:
            if isinstance(signal, bytes):
                await producer.send_and_wait(
                    scoring_settings.topics.signals, signal, key=b"x", timestamp_ms=stamp
                )
            else:
                await producer.send_and_wait(
                    scoring_settings.topics.signals,
                    orjson.dumps(signal),
                    key=signal["account_id"].encode(),
                    timestamp_ms=stamp,
                )

    yield send_signals
    await producer.stop()
