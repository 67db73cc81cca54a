"""From cs.triggers to `deliveries` rows: the Processor the shared consumer loop drives.

A batch's rows, its dead letters (an outbox, shared/deadletter.py) and its offsets are written
in one transaction, so each trigger creates its rows exactly once however often it is read,
and each invalid message one dead letter, relayed once the transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import inhibition, repository, silences
from services.alerts.routing.model import RoutingFile
from services.alerts.settings import AlertsSettings
from shared.clock import utcnow
from shared.contracts.messages import Rejected
from shared.contracts.triggers import TriggerEvent, parse_trigger
from shared.deadletter import DeadLetterOutbox
from shared.offsets import OffsetMoves
from shared.streaming import Batch

log = logging.getLogger(__name__)

SERVICE = "alerts"


class TriggerProcessor:
    def __init__(
        self,
        *,
        settings: AlertsSettings,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        routing: Callable[[], RoutingFile],
        channels: Sequence[str],
        on_added: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer
        self.routing = routing
        self.channels = list(channels)
        self.on_added = on_added
        self.dead_letters = DeadLetterOutbox(
            engine, producer, topic=settings.topics.dead_letter, service=SERVICE
        )

    async def process(self, batch: Batch, offsets: OffsetMoves) -> None:
        events: list[TriggerEvent] = []
        letters = []
        for records in batch.values():
            for record in records:
                try:
                    trigger = parse_trigger(record.value, max_bytes=self.settings.max_message_bytes)
                except Rejected as exc:
                    log.warning(
                        "alerts: %s[%d]@%d rejected: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        exc.reason,
                    )
                    letters.append(self.dead_letters.letter(record, exc.reason))
                    continue
                events.append(trigger)
        triggers = [event for event in events if event.status == "firing"]
        routing = self.routing()  # one routing for the whole batch
        async with self.engine.begin() as conn:
            now = utcnow()
            # Firing and resolved alike first: an alert muting another in the same batch
            # mutes it whichever was read first.
            await inhibition.record(conn, events, now)
            in_force = await silences.in_force(conn, now) if triggers else []
            firing = (
                await inhibition.firing(conn, {t.account_id for t in triggers})
                if triggers and routing.inhibit_rules
                else {}
            )
            await repository.add(conn, triggers, self.channels, now, routing, in_force, firing)
            await repository.add_resolved(
                conn, [event for event in events if event.status == "resolved"], now
            )
            await self.dead_letters.store(conn, letters)
            await offsets.store(conn)
        if events:
            self.on_added()
        if letters:
            await self.relay_dead_letters()

    async def relay_dead_letters(self) -> None:
        """Stored dead letters not yet on their topic: relayed after each batch that made
        some, and at start-up."""
        try:
            await self.dead_letters.relay()
        except Exception as exc:  # stored already: relayed again later
            log.warning("alerts: relaying dead letters failed (%s); will retry", exc)

    # Alerts keeps no per-partition state: everything it needs is in the deliveries table.
    async def assign(self, partitions: list[TopicPartition]) -> None:
        pass

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        pass

    async def idle(self, fence: OffsetMoves) -> None:
        """Nothing waits for the input to go quiet: deliveries run on their own clock."""

    async def tick(self, fence: OffsetMoves) -> bool:
        return False
