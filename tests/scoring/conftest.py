"""Scoring under test: the real service (consumer and HTTP API) as a task on the session's
broker and database, a producer for its input, and an HTTP client for its API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import UpSettings
from services.scoring.service import run_scoring
from shared.kafka import EmbeddedBroker, free_port
from shared.readiness import Readiness
from tests.conftest import wait_for


@asynccontextmanager
async def scoring(
    settings: UpSettings, engine: AsyncEngine, *, abrupt: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """run_scoring for the block; yields a client of its API once it is ready (its consumer
    joined the group and loaded its partitions)."""
    stop = asyncio.Event()
    readiness = Readiness()
    task = asyncio.create_task(run_scoring(settings, engine, readiness, stop))
    base = f"http://{settings.api_host}:{settings.api_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def answers() -> bool:
            if task.done():
                task.result()  # surface a start-up failure instead of waiting it out
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            await wait_for(answers, timeout=30, what="the scoring API")
            yield client
        finally:
            if abrupt:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            else:
                stop.set()
                await asyncio.wait_for(task, 30)


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
