"""The consumer loop every stateful service runs (scoring, alerts).

Offsets live in the database, written in the same transaction as the effects of the records
they cover. On assignment a partition's stored offset is loaded and the consumer seeks to it;
records below it are skipped. A crash anywhere therefore loses nothing and applies nothing
twice, without Kafka transactions. Kafka's own committed offsets are written afterwards only as
a convenience for lag monitoring.

Stored offsets (offsets.py) also fence zombies: a flush advances an offset only from the value
this instance last stored, so an instance that lost its partitions to a rebalance it did not
notice fails its flush instead of overwriting the new owner's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ConfigurationError
from shared.logcheck import LogCheck, Replaced
from shared.metrics import LOGS_REPLACED
from shared.offsets import OffsetMoves, load_offsets, rewind
from shared.readiness import Readiness

log = logging.getLogger(__name__)

Batch = Mapping[TopicPartition, list[ConsumerRecord]]
Commit = Callable[[], Awaitable[None]]


class Processor(Protocol):
    """What a service plugs into the loop. Every method runs under the loop's lock."""

    async def assign(self, partitions: list[TopicPartition]) -> None:
        """Load the state of newly owned partitions."""

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        """Forget the state of partitions given up."""

    async def process(self, batch: Batch, offsets: OffsetMoves) -> Commit | None:
        """Apply the batch. Return what durably stores its effects together with `offsets`
        (the loop runs it while the next batch is applied), or None if already stored."""

    async def tick(self, fence: OffsetMoves) -> bool:
        """Periodic work that does not depend on new records (time-driven rules), a bounded
        part of it per call; True while there is more, which the loop asks for on its next
        turn. What it stores carries `fence` (ConsumerLoop._fence)."""

    async def idle(self, fence: OffsetMoves) -> None:
        """Work waiting for the input to go quiet, run on each turn that brought no record
        (cheap when there is none). What it stores carries `fence`."""


class ConsumerLoop:
    def __init__(
        self,
        *,
        name: str,
        consumer: AIOKafkaConsumer,
        engine: AsyncEngine,
        group_id: str,
        topics: list[str],
        processor: Processor,
        readiness: Readiness,
        max_records: int = 5000,
        max_wait_ms: int = 100,
        tick_seconds: float | None = None,
        log_check: LogCheck | None = None,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.engine = engine
        self.group_id = group_id
        self.topics = topics
        self.processor = processor
        self.readiness = readiness
        self.max_records = max_records
        self.max_wait_ms = max_wait_ms
        self.tick_seconds = tick_seconds
        self.log_check = log_check
        self.positions: dict[TopicPartition, int | None] = {}
        self.lock = asyncio.Lock()
        self._last_tick = time.monotonic()
        self._tick_more = False
        self._stale = False
        self._joined = False
        self._refused: ConfigurationError | None = None  # see assigned()
        # The previous batch's write, landing while the next batch is applied in memory.
        self._landing: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer.subscribe(self.topics, listener=_Listener(self))
        self.readiness.fail(self.name, "joining the consumer group")
        backoff = 0.5
        while not stop.is_set():
            try:
                if self._refused is not None:
                    raise self._refused
                if self._stale:
                    await self._reload()
                batch = await self.consumer.getmany(
                    timeout_ms=self.max_wait_ms, max_records=self.max_records
                )
                async with self.lock:
                    await self._handle(batch)
                    if not batch:
                        await self._landed()
                        await self.processor.idle(self._fence())
                    await self._maybe_tick()
                if self._joined:
                    self.readiness.ok(self.name)
                backoff = 0.5
            except (asyncio.CancelledError, ConfigurationError):
                raise  # a refusal (ConfigurationError) ends the loop: no retry can fix it
            except Exception as exc:
                # Database down, broker gone, or a fenced flush: the batch's effects were not
                # stored, so the in-memory state is rebuilt from what was, without a restart.
                log.warning("%s: batch failed (%s); retrying in %.1fs", self.name, exc, backoff)
                self.readiness.fail(self.name, short_reason(exc))
                self._stale = True
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 10.0)
        with contextlib.suppress(Exception):  # what was applied is stored, if it can be
            await self._landed()

    async def _handle(self, batch: Batch) -> None:
        if self._landing is not None and self._landing.done():
            await self._landed()  # surfaces a failed write even when no records come
        fresh: dict[TopicPartition, list[ConsumerRecord]] = {}
        moves = OffsetMoves(self.group_id)
        for tp, records in batch.items():
            if tp not in self.positions:
                continue  # fetched just before a rebalance took the partition away
            stored = self.positions[tp]
            kept = [r for r in records if stored is None or r.offset >= stored]
            if kept:
                fresh[tp] = kept
                moves.advance(tp, stored, kept[-1])
        if not fresh:
            return
        commit = await self.processor.process(fresh, moves)
        for tp, (_, new) in moves.moves.items():
            self.positions[tp] = new
        # Writes land in order: this batch's starts once the previous one's has committed.
        await self._landed()
        self._landing = asyncio.create_task(self._land(commit, moves))

    async def _land(self, commit: Commit | None, moves: OffsetMoves) -> None:
        if commit is not None:
            await commit()
        await self._commit_to_kafka({tp: new for tp, (_, new) in moves.moves.items()})

    async def _landed(self) -> None:
        """Wait for the write in flight; its failure fails the caller (and so the batch)."""
        landing, self._landing = self._landing, None
        if landing is not None:
            await landing

    async def _maybe_tick(self) -> None:
        if self.tick_seconds is None:
            return
        if not self._tick_more:
            if time.monotonic() - self._last_tick < self.tick_seconds:
                return
            self._last_tick = time.monotonic()
        await self._landed()
        self._tick_more = await self.processor.tick(self._fence())

    def _fence(self) -> OffsetMoves:
        """The owned partitions' stored offsets, unmoved: a write that stores them fails
        (Fenced) where another instance has moved one since this instance last stored it."""
        fence = OffsetMoves(self.group_id)
        for tp, position in self.positions.items():
            if position is not None:
                fence.moves[tp] = (position, position)
        return fence

    async def _commit_to_kafka(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        except KafkaError as exc:  # only a convenience: the database holds the truth
            log.debug("%s: kafka commit skipped: %s", self.name, exc)

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        async with self.lock:
            await self._settle()
            try:
                await self._load(partitions)
            except ConfigurationError as exc:
                # The processor refuses these partitions (scoring under a changed partition
                # count), saying why. aiokafka only logs a listener's error: run() raises it.
                self.readiness.fail(self.name, str(exc))
                self._refused = exc
                return
            self._joined = True
            self.readiness.ok(self.name)

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        async with self.lock:
            await self._settle()
            await self.processor.revoke(partitions)
            for tp in partitions:
                self.positions.pop(tp, None)

    async def _load(self, partitions: list[TopicPartition]) -> None:
        stored = await load_offsets(self.engine, self.group_id, partitions)
        offsets = {tp: s.offset for tp, s in stored.items()}
        if self.log_check is not None:
            for replaced in await self.log_check.replaced(stored):
                await self._resume_replaced(replaced)
                offsets[replaced.tp] = replaced.resume
        await self.processor.assign(partitions)
        for tp in partitions:
            self.positions[tp] = offsets.get(tp)
            if tp in offsets:
                self.consumer.seek(tp, offsets[tp])
        log.info("%s: assigned %s", self.name, _describe(partitions, offsets))

    async def _resume_replaced(self, replaced: Replaced) -> None:
        """Say so loudly, and go on from the log as it is."""
        tp = replaced.tp
        where = f"{tp.topic}[{tp.partition}]"
        log.error(
            "%s: %s: %s; resuming at offset %d of the log as it is now",
            self.name,
            where,
            replaced.why,
            replaced.resume,
        )
        LOGS_REPLACED.labels(self.name, tp.topic).inc()
        self.readiness.notice(
            f"{self.name} {where}",
            f"log replaced under stored offset {replaced.stored} ({replaced.why}); resumed at "
            f"{replaced.resume}",
        )
        await rewind(self.engine, self.group_id, tp, replaced.stored, replaced.resume)

    async def _reload(self) -> None:
        """Drop all in-memory state and resume every owned partition from the database."""
        async with self.lock:
            with contextlib.suppress(Exception):  # failed or not, it is over
                await self._landed()
            owned = list(self.positions)
            await self.processor.revoke(owned)
            await self._load(owned)
            for tp in owned:
                if self.positions[tp] is None:
                    await self._rewind_to_committed(tp)
            self._stale = False

    async def _settle(self) -> None:
        """Before partitions move: land the write in flight, or rebuild from the database."""
        try:
            await self._landed()
        except Exception as exc:
            log.warning("%s: last write failed before a rebalance (%s)", self.name, exc)
            self._stale = True

    async def _rewind_to_committed(self, tp: TopicPartition) -> None:
        # Nothing stored yet for this partition: Kafka's commit (written only after a store)
        # or the very beginning is where the lost batch started.
        committed = await self.consumer.committed(tp)
        if committed is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, committed)


def short_reason(exc: BaseException) -> str:
    """The first line of an error, bounded: database errors quote whole statements."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}".rstrip(": ")


def _describe(partitions: list[TopicPartition], stored: dict[TopicPartition, int]) -> str:
    return (
        ", ".join(
            f"{tp.topic}[{tp.partition}]@{stored.get(tp, 'start')}" for tp in sorted(partitions)
        )
        or "nothing"
    )


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
    # arrives just as what it waits for completes, and the cancelled task would run on.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.loop.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.loop.assigned(list(assigned))
