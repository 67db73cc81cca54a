"""Whether a partition's log is still the one a consumer group's stored offset points into.

Offsets stored in the database outlive the broker's logs: `pulse up` restarted on the embedded
broker finds an empty broker beside its SQLite file, and on Apache Kafka a topic can be deleted
and created again. A stored offset then points past the end of the new log, or into records
the group never read, and a loop that keeps only records at or after it would drop everything
new until the log grew past it, silently.

So the group stores, with each offset, a fingerprint of the record just before it, and on
assignment reads that record again. The log is the same when the record is there with the same
fingerprint; otherwise it was replaced, and consumption resumes at the start of the log as it
is now, losing nothing that is there. Where retention removed records the group never read (the
log now starts after the stored offset), it resumes at the log's start too: those records are
gone whatever the consumer does, and it says so.

End offsets alone cannot tell: the test broker answers ListOffsets with the base offset of its
last batch, and a new log that has grown past the stored offset looks like the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


def fingerprint(record: ConsumerRecord) -> int:
    """8 bytes of BLAKE2b over the record's timestamp, key and value, as a signed integer."""
    digest = blake2b(digest_size=8)
    digest.update(str(record.timestamp).encode())
    for part in (record.key, record.value):
        digest.update(b"\x00" if part is None else b"\x01" + len(part).to_bytes(4, "big") + part)
    return int.from_bytes(digest.digest(), "big", signed=True)


@dataclass(frozen=True)
class Stored:
    """A group's stored position in one partition: the next offset to read and the
    fingerprint of the record before it (None for positions stored before fingerprints)."""

    offset: int
    last_record: int | None


@dataclass(frozen=True)
class Replaced:
    """A partition whose stored position no longer points into the log it was read from."""

    tp: TopicPartition
    stored: int
    resume: int  # the first offset of the log as it is now
    why: str


class LogCheck:
    """Reads back, on assignment, the record before each stored offset (see the module
    docstring). `reader` makes a consumer outside any group, configured as the loop's."""

    def __init__(self, reader: Callable[[], AIOKafkaConsumer], timeout: float = 5.0) -> None:
        self.reader = reader
        self.timeout = timeout

    async def replaced(self, stored: dict[TopicPartition, Stored]) -> list[Replaced]:
        wanted = {tp: s for tp, s in stored.items() if s.offset > 0}
        if not wanted:
            return []
        consumer = self.reader()
        await consumer.start()
        try:
            consumer.assign(list(wanted))
            starts = await consumer.beginning_offsets(list(wanted))
            found = await self._read_back(consumer, wanted, starts)
        finally:
            await consumer.stop()
        return [
            verdict
            for tp, position in sorted(wanted.items())
            if (verdict := _judge(tp, position, starts[tp], found.get(tp))) is not None
        ]

    async def _read_back(
        self,
        consumer: AIOKafkaConsumer,
        wanted: dict[TopicPartition, Stored],
        starts: dict[TopicPartition, int],
    ) -> dict[TopicPartition, ConsumerRecord]:
        """The record at stored offset - 1 of each partition that still has it in range,
        as far as the broker gives it within the timeout."""
        looking = {tp: s.offset - 1 for tp, s in wanted.items() if starts[tp] <= s.offset - 1}
        for tp, offset in looking.items():
            consumer.seek(tp, offset)
        found: dict[TopicPartition, ConsumerRecord] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                while len(found) < len(looking):
                    batch = await consumer.getmany(*looking, timeout_ms=200)
                    for tp, records in batch.items():
                        if tp in looking and tp not in found and records:
                            found[tp] = records[0]
                            consumer.pause(tp)
        return found


def _judge(
    tp: TopicPartition, stored: Stored, start: int, record: ConsumerRecord | None
) -> Replaced | None:
    before = stored.offset - 1
    if start > stored.offset:
        return Replaced(
            tp,
            stored.offset,
            start,
            f"the log now starts at {start}, after the stored offset {stored.offset}: records "
            f"{stored.offset}..{start - 1} were removed before they were read",
        )
    if start > before:
        return None  # the record before went with retention; the next one is the start
    if record is None or record.offset != before:
        return Replaced(
            tp,
            stored.offset,
            start,
            f"the log ends before the stored offset {stored.offset}: it was replaced (a "
            "broker that lost its data, or a topic deleted and created again)",
        )
    if stored.last_record is not None and fingerprint(record) != stored.last_record:
        return Replaced(
            tp,
            stored.offset,
            start,
            f"record {before} is not the one read before the stored offset {stored.offset}: "
            "the log was replaced (a broker that lost its data, or a topic deleted and created "
            "again)",
        )
    return None
