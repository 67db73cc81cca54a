"""Phase 1, the raw limit: a bare consumer that only parses the input topics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer

from bench import feed
from bench.errors import BenchError
from bench.phases.common import STALL_TIMEOUT, START_TIMEOUT, Context, now, phase_topics
from bench.stats import rate
from bench.workload import Workload
from shared.config import BaseServiceSettings
from shared.kafka import create_consumer


@dataclass
class Raw:
    messages: int
    rate: float  # messages/s from the fetch that brought the first records to the last
    seconds: float
    produce_rate: float  # how fast the backlog was written (setup, for reference)
    started_at: str
    finished_at: str


async def measure_raw(ctx: Context, workload: Workload) -> Raw:
    """A bare consumer on the same input topics, configured like the services' consumers,
    that only parses each value: what the broker and client allow before any real work."""
    started_at = now()
    fresh = ctx.fresh("raw")
    messages = workload.messages
    async with phase_topics(ctx, fresh) as topics:
        produced = await feed.produce_backlog(ctx.bootstrap, topics, messages)
        settings = BaseServiceSettings(kafka_bootstrap_servers=ctx.bootstrap, topics=topics)
        consumer = create_consumer(settings, f"{fresh.name}-raw")
        consumer.subscribe(topics.inputs())
        await consumer.start()
        try:
            first, done = await _read_all(consumer, len(messages))
        finally:
            await consumer.stop()
    return Raw(
        messages=len(messages),
        rate=rate(len(messages), done - first),
        seconds=round(done - first, 3),
        produce_rate=rate(produced.messages, produced.seconds),
        started_at=started_at,
        finished_at=now(),
    )


async def _read_all(consumer: AIOKafkaConsumer, total: int) -> tuple[float, float]:
    """Read and parse until `total` records are seen; (when the fetch that brought the first
    ones began, when the last ones were parsed). Counted by reading, never by end offsets."""
    count = 0
    first: float | None = None
    last_progress = time.monotonic()
    while count < total:
        asked = time.monotonic()
        batch = await consumer.getmany(timeout_ms=10, max_records=5000)
        for records in batch.values():
            for record in records:
                orjson.loads(record.value)
            count += len(records)
        if batch:
            first = asked if first is None else first
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > (STALL_TIMEOUT if first else START_TIMEOUT):
            raise BenchError(f"the raw consumer read {count} of {total} records, then nothing")
    assert first is not None
    return first, time.monotonic()
