"""From cs.triggers to `deliveries` rows: the Processor the shared consumer loop drives.

A batch's rows and its offsets are written in one transaction, so each trigger creates its
rows exactly once however often it is read; invalid messages go to the dead-letter topic
before the offsets that skip them are stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import repository
from services.alerts.settings import AlertsSettings
from shared.clock import utcnow
from shared.contracts.messages import Rejected
from shared.contracts.triggers import TriggerEvent, parse_trigger
from shared.deadletter import dead_letter
from shared.streaming import Batch, OffsetMoves

log = logging.getLogger(__name__)

SERVICE = "alerts"


class TriggerProcessor:
    def __init__(
        self,
        *,
        settings: AlertsSettings,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        channels: Sequence[str],
        on_added: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer
        self.channels = list(channels)
        self.on_added = on_added

    async def process(self, batch: Batch, offsets: OffsetMoves) -> None:
        triggers: list[TriggerEvent] = []
        dead_letters = []
        for records in batch.values():
            for record in records:
                try:
                    triggers.append(
                        parse_trigger(record.value, max_bytes=self.settings.max_message_bytes)
                    )
                except Rejected as exc:
                    log.warning(
                        "alerts: %s[%d]@%d rejected: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        exc.reason,
                    )
                    dead_letters.append(
                        await dead_letter(
                            self.producer,
                            self.settings.topics.dead_letter,
                            record,
                            exc.reason,
                            SERVICE,
                        )
                    )
        # The dead letters must be on the broker before offsets move past their originals.
        await asyncio.gather(*dead_letters)
        async with self.engine.begin() as conn:
            await repository.add(conn, triggers, self.channels, utcnow())
            await offsets.store(conn)
        if triggers:
            self.on_added()

    # Alerts keeps no per-partition state: everything it needs is in the deliveries table.
    async def assign(self, partitions: list[TopicPartition]) -> None:
        pass

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        pass

    async def tick(self, fence: OffsetMoves) -> bool:
        return False
