"""Scoring's outboxes to Kafka: triggers and dead letters, stored in the batch's transaction,
published after it, and published again until they are out (a broker outage, a crash)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts import repository
from shared.contracts.triggers import TriggerEvent
from shared.deadletter import DeadLetterOutbox

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        topic: str,
        dead_letters: DeadLetterOutbox,
    ) -> None:
        self.engine, self.producer, self.topic = engine, producer, topic
        self.dead_letters = dead_letters
        self.behind = False  # something stored waits for the broker

    async def pending(self) -> None:
        """Publish triggers and dead letters stored but not yet relayed (after a crash or a
        broker outage)."""
        self.behind = True  # until this pass has relayed everything
        relayed = True
        # Until none is left: a resolution waits for its firing, relayed in the pass before.
        while relayed and (waiting := await repository.unpublished_triggers(self.engine)):
            relayed = await self.triggers(waiting)
        relayed = await self.letters() and relayed
        self.behind = not relayed

    async def letters(self) -> bool:
        try:
            await self.dead_letters.relay()
        except Exception as exc:  # stored already: relayed again with the next batch or tick
            log.warning("relaying dead letters failed (%s); will retry", exc)
            self.behind = True
            return False
        return True

    async def triggers(self, fired: list[TriggerEvent]) -> bool:
        """Whether every trigger went out (else they wait, stored, for `pending`)."""
        if not fired:
            return True
        try:
            sends = [
                await self.producer.send(self.topic, value=t.to_json(), key=t.account_id.encode())
                for t in fired
            ]
            await asyncio.gather(*sends)
            await repository.mark_published(self.engine, fired)
        except Exception as exc:  # stored already: relayed again with the next batch or tick
            log.warning("relaying %d triggers failed (%s); will retry", len(fired), exc)
            self.behind = True
            return False
        return True
