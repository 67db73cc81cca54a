"""Migration 0004 packs accounts stored in the plain form before it, and can undo it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import migrate
from services.scoring.accounts.packing import packed_time, unpack_account
from services.scoring.accounts.state import DedupWindow, signal_key
from services.scoring.tables import accounts
from tests.helpers.database import database_at, to_revision

HEALTH = {
    "score": 64,
    "band": "yellow",
    "components": {"support": {"score": 20, "weight": 20, "why": "4 open tickets"}},
}
# accounts.state as revision 0003 stored it: plain JSON, people without unknown fields, and
# health only in accounts.health.
PLAIN = {
    "profile": {"name": "Acme", "plan": {"name": "Growth", "limits": {"seats": 10.0}}},
    "now": 1795490314.5,
    "first_seen": 1795486560.0,
    "usage": {"api_calls": {"2026-11": 12.0}},
    "gauges": {},
    "people": {"u:u1": {"user_id": "u1", "last_seen": 1795490314.5, "months": ["2026-11"]}},
    "activity": [[20781, 3]],
    "features": {"search": 1795490314.5},
    "tickets": {},
    "csat": [],
    "seen": ["e1", "e2"],
    "rules": {"plan_limit": {}},
    "recent_records": [],
}


@pytest.fixture
async def at_0003() -> AsyncIterator[AsyncEngine]:
    async with database_at("0003") as engine:
        yield engine


async def test_plain_accounts_are_packed_with_their_health_and_unpacked_on_downgrade(
    at_0003: AsyncEngine,
) -> None:
    engine = at_0003
    health = {"account_id": "acme", **HEALTH, "active_triggers": [], "updated_at": None}
    async with engine.begin() as conn:
        await conn.execute(
            accounts.insert().values(
                account_id="acme",
                partition=2,
                name="Acme",
                score=64,
                band="yellow",
                profile=orjson.dumps(PLAIN["profile"]).decode(),
                health=orjson.dumps(health).decode(),
                recent_records="[]",
                state=orjson.dumps(PLAIN),
                updated_at=datetime.now(UTC),
            )
        )

    await migrate(engine)
    async with engine.connect() as conn:
        stored = await conn.scalar(select(accounts.c.state))
    assert stored[:1] != b"{" and packed_time(stored) == PLAIN["now"]
    state = unpack_account("acme", 2, stored)
    assert state.health == HEALTH and not state.health_stale
    assert state.now == PLAIN["now"] and list(state.seen) == [signal_key("e1"), signal_key("e2")]
    window, arrived = DedupWindow(3600.0), PLAIN["now"]
    assert not state.remember("e2", arrived, window)  # still deduplicates
    assert state.remember("e3", arrived, window)
    assert not state.remember("e1", arrived, window)  # the stored ids outlive a new arrival
    assert state.people["u:u1"]["user_id"] == "u1" and state.by_user == {"u1": "u:u1"}

    async with engine.begin() as conn:
        await conn.run_sync(to_revision("0003", "downgrade"))
    async with engine.connect() as conn:
        plain = await conn.scalar(select(accounts.c.state))
    assert orjson.loads(plain) == {**PLAIN, "seen": []}  # ids cannot come back from keys
