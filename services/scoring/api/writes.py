"""The write path: a record from a PUT, published to cs.signals like every change."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaProducer
from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.api.storable import unstorable
from services.scoring.settings import ScoringSettings
from services.scoring.tables import accounts
from shared.contracts.signals import encode_signal, record_signal
from shared.db.engine import read_rows


class RecordWriter:
    """Publishes API writes to cs.signals, keyed by account, so they are applied in order with
    the account's events; then waits briefly to answer 200 once applied (else 202)."""

    def __init__(
        self, settings: ScoringSettings, engine: AsyncEngine, producer: AIOKafkaProducer | None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer

    async def write(
        self, kind: Literal["account", "stakeholder"], account_id: str, body: dict[str, Any]
    ) -> bool:
        """Publish the record; whether scoring applied it within api_write_wait_seconds."""
        where = unstorable(body)
        if where is not None:
            field = ".".join(where) or "body"
            raise HTTPException(422, f"{field}: must not hold a NUL or an unpaired surrogate")
        if self.producer is None:
            raise HTTPException(503, "this instance does not accept writes")
        signal_id = f"api:{uuid.uuid4()}"
        signal = record_signal(kind, signal_id, body)
        try:
            await self.producer.send_and_wait(
                self.settings.topics.signals, encode_signal(signal), key=account_id.encode()
            )
        except Exception as exc:
            raise HTTPException(503, f"could not accept the write: {type(exc).__name__}") from None
        return await self._applied(account_id, signal_id)

    async def _applied(self, account_id: str, signal_id: str) -> bool:
        deadline = asyncio.get_running_loop().time() + self.settings.api_write_wait_seconds
        query = select(accounts.c.recent_records).where(accounts.c.account_id == account_id)
        while asyncio.get_running_loop().time() < deadline:
            rows = await read_rows(self.engine, query)
            recent = rows[0].recent_records if rows else None
            if recent and signal_id in orjson.loads(recent):
                return True
            await asyncio.sleep(0.05)
        return False
