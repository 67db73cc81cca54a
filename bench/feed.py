"""Putting the workload on the broker: a fast backlog, and load at a fixed rate.

The backlog is written with one batch per partition at a time (the producer's batch API),
partitioned by key exactly like the default partitioner, with no await per message: it is
the setup of a phase, not what is measured, so it should take seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from bench.errors import BenchError
from bench.workload import Message
from shared.config import BaseServiceSettings, Topics
from shared.kafka import client_options

SEND_TIMEOUT = 120.0
RATE_STEP_SECONDS = 0.005


def _options(bootstrap: str) -> dict[str, Any]:
    """The broker's address with the caller's PULSE_KAFKA_* transport security."""
    return client_options(BaseServiceSettings(kafka_bootstrap_servers=bootstrap))


def producer(bootstrap: str, *, linger_ms: int = 20) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **_options(bootstrap),
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=30000,
    )


@dataclass(frozen=True)
class Produced:
    messages: int
    seconds: float


async def produce_backlog(bootstrap: str, topics: Topics, messages: Sequence[Message]) -> Produced:
    started = time.monotonic()
    client = producer(bootstrap)
    await client.start()
    try:
        sends = await _send_batches(client, topics, messages)
        await _all_acknowledged(sends, "the backlog")
    finally:
        await client.stop()
    return Produced(len(messages), time.monotonic() - started)


async def _send_batches(
    client: AIOKafkaProducer, topics: Topics, messages: Sequence[Message]
) -> list[asyncio.Future[object]]:
    partitions: dict[str, int] = {}
    open_batches: dict[tuple[str, int], Any] = {}  # aiokafka's BatchBuilder per partition
    sends: list[asyncio.Future[object]] = []
    for message in messages:
        topic = getattr(topics, message.topic)
        if topic not in partitions:
            partitions[topic] = len(await client.partitions_for(topic))
        key = message.key
        where = (topic, (murmur2(key) & 0x7FFFFFFF) % partitions[topic])
        batch = open_batches.get(where) or client.create_batch()
        if batch.append(key=key, value=message.encode(), timestamp=None) is None:
            sends.append(await _flush(client, where, batch))
            batch = client.create_batch()
            batch.append(key=key, value=message.encode(), timestamp=None)
        open_batches[where] = batch
    for where, batch in open_batches.items():
        sends.append(await _flush(client, where, batch))
    return sends


async def _flush(client: AIOKafkaProducer, where: tuple[str, int], batch: Any) -> Any:
    batch.close()
    return await client.send_batch(batch, where[0], partition=where[1])


async def _all_acknowledged(sends: list[asyncio.Future[object]], what: str) -> None:
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await asyncio.gather(*sends)
    except TimeoutError:
        raise BenchError(
            f"the broker did not acknowledge {what} within {SEND_TIMEOUT:.0f}s"
        ) from None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def live(message: Message, sequence: int) -> Message:
    """A workload event replayed now: a new event_id, occurred_at = the wall clock."""
    value = {**message.value, "event_id": f"live-{sequence}", "occurred_at": now_iso()}
    return Message(message.topic, value)


@dataclass(frozen=True)
class Offered:
    messages: int
    seconds: float


async def offer(
    client: AIOKafkaProducer,
    topics: Topics,
    source: Iterator[Message],
    *,
    rate: float,
    seconds: float,
) -> Offered:
    """Send messages from `source` at `rate` per second for `seconds`, in small steps so the
    rate holds at any time scale; delivery is awaited once, at the end."""
    started = time.monotonic()
    sent = 0
    sends: list[asyncio.Future[object]] = []
    while (elapsed := time.monotonic() - started) < seconds:
        for _ in range(int(rate * elapsed) - sent):
            message = next(source)
            topic = getattr(topics, message.topic)
            sends.append(await client.send(topic, message.encode(), key=message.key))
            sent += 1
        await asyncio.sleep(RATE_STEP_SECONDS)
    took = time.monotonic() - started
    await _all_acknowledged(sends, "the offered load")
    return Offered(sent, took)
