"""The ingest loop: read a batch, send a signal or a dead letter for every record, wait until
the broker has all of them, and only then commit the batch's offsets.

Ingest keeps no state, so Kafka's committed offsets are the whole truth about its progress:
at-least-once, and a redelivered record becomes a signal with the same signal_id, which
scoring drops. Any broker error (send, commit, fetch) is reported through readiness and answered
by rewinding every owned partition to its committed offset, so the unfinished batch is read
again in the same process instead of being lost or needing a restart.

Signals are routed by the signals topic's partition count as it was at ingest's first batch.
Before each batch ingest asks the cluster for the count again, and if it changed, it stops
(PartitionsChanged) with the batch uncommitted, rather than route an account's signals to a
second partition while other producers, and scoring's stored accounts, follow the first
(docs/operations.md, "The signals topic's partition count changed").
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord, RecordMetadata

from services.ingest.convert import Accepted, convert, input_kinds
from services.ingest.metrics import INGESTED
from services.ingest.settings import IngestSettings
from shared.clock import utcnow
from shared.deadletter import dead_letter
from shared.errors import PartitionsChanged
from shared.kafka import KeyedBatches, create_consumer, create_producer, current_partitions
from shared.metrics import BATCH_RECORDS
from shared.readiness import Readiness
from shared.streaming import sleep_or_stop

log = logging.getLogger(__name__)

PART = "ingest"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
# aiokafka retries commits and committed-offset reads for as long as the broker is away;
# bounding them turns an outage into a reported failure and keeps shutdown prompt.
BROKER_TIMEOUT = 30.0

Batch = Mapping[TopicPartition, list[ConsumerRecord]]
Delivery = asyncio.Future[RecordMetadata]


async def run_ingest(settings: IngestSettings, readiness: Readiness, stop: asyncio.Event) -> None:
    """Run ingest until `stop` is set."""
    ingest = Ingest(
        settings,
        create_consumer(settings, settings.group("ingest")),
        create_producer(settings),
        readiness,
    )
    try:
        await ingest.run(stop)
    finally:
        await ingest.close()


class Ingest:
    def __init__(
        self,
        settings: IngestSettings,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        readiness: Readiness,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.readiness = readiness
        self.kinds = input_kinds(settings.topics)
        self._backoff = BACKOFF_FIRST
        # Set while a fetched batch is not committed: a failure then means reading it again.
        self._rewind_needed = False
        self._signal_partitions: int | None = None  # the count it routes by, from its first batch
        self._partitions_checked = float("-inf")  # monotonic time of the last check

    async def run(self, stop: asyncio.Event) -> None:
        self.readiness.fail(PART, "connecting to Kafka")
        self.consumer.subscribe(list(self.kinds))
        # Started one by one so a broker that is down at startup is waited for, not fatal.
        for start in (self.producer.start, self.consumer.start):
            while not stop.is_set() and not await self._attempt(start, stop):
                pass
        while not stop.is_set():
            if await self._attempt(self._step, stop):
                self.readiness.ok(PART)

    async def close(self) -> None:
        """Leave the group and flush what is queued, each within BROKER_TIMEOUT: a broker out
        of reach must not hold the process at exit. Nothing is lost if a flush is cut short:
        the input offsets of records not yet acknowledged were never committed."""
        try:
            await _bounded(self.consumer.stop(), "leaving the consumer group")
        finally:
            await _bounded(self.producer.stop(), "flushing the producer")

    async def _attempt(self, action: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
        """Run `action`; on failure report it and wait out a growing backoff."""
        try:
            await action()
        except PartitionsChanged:
            raise  # no retry can make it right: an operator's procedure can
        except Exception as exc:
            reason = _describe(exc)
            log.warning("ingest: %s; retrying in %.1fs", reason, self._backoff)
            self.readiness.fail(PART, reason)
            await sleep_or_stop(stop, self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            return False
        self._backoff = BACKOFF_FIRST
        return True

    async def _step(self) -> None:
        if self._rewind_needed:
            await self._rewind()
            self._rewind_needed = False
        batch = await self.consumer.getmany(
            timeout_ms=self.settings.batch_max_wait_ms,
            max_records=self.settings.batch_max_records,
        )
        if not batch:
            return
        self._rewind_needed = True
        await self._check_partitions()
        await self._forward(batch)
        await self._commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
        self._rewind_needed = False

    async def _check_partitions(self) -> None:
        started = time.monotonic()
        if started - self._partitions_checked < self.settings.partition_check_seconds:
            return
        topic = self.settings.topics.signals
        now = await current_partitions(self.producer, topic)
        self._partitions_checked = started
        if self._signal_partitions is None:
            self._signal_partitions = now
            log.info("ingest: routing signals by the %d partitions of %s", now, topic)
        elif now != self._signal_partitions:
            reason = (
                f"{topic} now has {now} partitions; this ingest routed accounts by "
                f"{self._signal_partitions} since it started. Stopping rather than send one "
                "account's signals to two partitions (this batch is not committed and will be "
                "read again). Stop ingest and scoring, run `pulse accounts repartition`, then "
                "start them again (docs/operations.md, \"The signals topic's partition count "
                'changed")'
            )
            log.error("ingest: %s", reason)
            self.readiness.fail(PART, reason)
            raise PartitionsChanged(reason)

    async def _forward(self, batch: Batch) -> None:
        """Queue a signal or dead letter per record, then wait until the broker has them all."""
        latest = utcnow() + timedelta(seconds=self.settings.max_future_skew_seconds)
        assert self._signal_partitions is not None  # checked before each batch
        signals = KeyedBatches(
            self.producer, {self.settings.topics.signals: self._signal_partitions}
        )
        deliveries: list[Delivery] = []
        outcomes: Counter[tuple[str, str]] = Counter()
        for records in batch.values():
            for record in records:
                outcome = await self._send(record, latest, signals, deliveries)
                outcomes[record.topic, outcome] += 1
        deliveries += await signals.flush()
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        # Counted once delivered, so a batch read again after a failure is not counted twice.
        for (topic, outcome), count in outcomes.items():
            INGESTED.labels(topic, outcome).inc(count)
        BATCH_RECORDS.labels(PART).observe(sum(outcomes.values()))

    async def _send(
        self,
        record: ConsumerRecord,
        latest: datetime,
        signals: KeyedBatches,
        deliveries: list[Delivery],
    ) -> str:
        """Queue the record's signal, or send its dead letter; returns the outcome."""
        result = convert(
            self.kinds[record.topic],
            record,
            max_bytes=self.settings.max_message_bytes,
            latest=latest,
        )
        if isinstance(result, Accepted):
            await signals.add(self.settings.topics.signals, result.key, result.value)
            return "valid"
        log.warning(
            "ingest: dead-lettering %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            result.reason,
        )
        deliveries.append(await self._dead_letter(record, result.reason))
        return "invalid"

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> Delivery:
        topic = self.settings.topics.dead_letter
        try:
            return await dead_letter(self.producer, topic, record, reason, PART)
        except MessageSizeTooLargeError:
            # Bigger than even a dead letter may be: keep the reason and the source position,
            # drop the bytes, rather than block the partition behind this record forever.
            size = len(record.value or b"")
            bare = dataclasses.replace(record, value=None)
            reason = f"{reason}; the {size}-byte value was too large to keep"
            return await dead_letter(self.producer, topic, bare, reason, PART)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        # A partition lost to a rebalance mid-batch is not ours to commit; its new owner reads
        # it again from the last commit, and the signals sent twice are harmless.
        owned = self.consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if mine:
            async with asyncio.timeout(BROKER_TIMEOUT):
                await self.consumer.commit(mine)

    async def _rewind(self) -> None:
        """Move every owned partition back to its committed offset (or the beginning)."""
        for tp in self.consumer.assignment():
            async with asyncio.timeout(BROKER_TIMEOUT):
                committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
        log.info("ingest: rewound to the committed offsets")


def _describe(exc: Exception) -> str:
    # aiokafka's errors already start with their class name; others get it prepended.
    name, text = type(exc).__name__, " ".join(str(exc).split())
    return text if text.startswith(name) else f"{name}: {text}".rstrip(": ")


async def _bounded(stopping: Awaitable[None], what: str) -> None:
    try:
        async with asyncio.timeout(BROKER_TIMEOUT):
            await stopping
    except TimeoutError:
        log.warning("ingest: gave up %s after %.0fs; exiting anyway", what, BROKER_TIMEOUT)
