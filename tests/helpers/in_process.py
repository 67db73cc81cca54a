"""Running services in the tests' own process: ingest and scoring as tasks on the test's
event loop, and ingest's output topics read back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.waiting import wait_for
from services.cli import UpSettings
from services.ingest import run_ingest
from services.ingest.settings import IngestSettings
from services.scoring.service import run_scoring
from shared.readiness import Readiness


@asynccontextmanager
async def ingesting(settings: IngestSettings, *, abrupt: bool = False) -> AsyncIterator[Readiness]:
    """run_ingest as a task for the block's duration; it must stop cleanly when asked, or
    (abrupt) is cancelled wherever it is, as a crash would stop it."""
    stop = asyncio.Event()
    readiness = Readiness()
    task = asyncio.create_task(run_ingest(settings, readiness, stop))
    try:
        yield readiness
    finally:
        if abrupt:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                # Its shutdown is bounded (twice the broker timeout at most).
                await asyncio.wait_for(task, 90)
        else:
            stop.set()
            await asyncio.wait_for(task, 30)


class Outputs:
    """Everything ingest wrote to the signals and dead-letter topics, read as a user would."""

    def __init__(self, consumer: AIOKafkaConsumer, signals: str, dead_letter: str) -> None:
        self.consumer = consumer
        self.topics = {signals: "signals", dead_letter: "dead"}
        self.signals: list[ConsumerRecord] = []
        self.dead: list[ConsumerRecord] = []

    async def poll(self) -> None:
        batch = await self.consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                target = self.signals if self.topics[record.topic] == "signals" else self.dead
                target.append(record)

    async def wait(self, *, signals: int = 0, dead: int = 0, timeout: float = 30.0) -> None:
        """Read until at least this many signals and dead letters arrived."""

        async def enough() -> bool:
            await self.poll()
            return len(self.signals) >= signals and len(self.dead) >= dead

        await wait_for(enough, timeout=timeout, what=f"{signals} signals and {dead} dead letters")

    async def settle(self, seconds: float = 1.0) -> None:
        """Keep reading a little longer, to catch anything that should not be there."""
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            await self.poll()

    async def saw_all(self, signal_ids: set[str]) -> bool:
        """Read once more; true when every one of these signal_ids has arrived."""
        await self.poll()
        return {s["signal_id"] for s in self.signal_values()} >= signal_ids

    def signal_values(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.signals]


async def open_outputs(bootstrap: str, settings: IngestSettings) -> Outputs:
    topics = settings.topics
    # Its own group, but partitions assigned by hand: joining a group costs seconds.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    consumer.assign(
        [
            TopicPartition(topic, partition)
            for topic in (topics.signals, topics.dead_letter)
            for partition in range(settings.topic_partitions)
        ]
    )
    return Outputs(consumer, topics.signals, topics.dead_letter)


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
