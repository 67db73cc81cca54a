"""The deliveries repository on both databases it supports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import deliveries
from services.alerts.models import Trigger, parse_trigger
from shared.clock import utcnow
from shared.db.engine import create_engine
from shared.db.migrate import migrate
from tests.alerts.factories import rows, trigger


def triggers(count: int, **overrides: Any) -> list[Trigger]:
    return [
        parse_trigger(orjson.dumps(trigger(**overrides)), max_bytes=1 << 20) for _ in range(count)
    ]


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pulse.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


async def test_lifecycle_on_sqlite(sqlite_engine: AsyncEngine) -> None:
    engine, now = sqlite_engine, utcnow()
    [event] = triggers(1)
    duplicate = event.model_copy(update={"trigger_id": "other"})
    for batch in ([event, event], [duplicate]):  # in one batch, then in a later one
        async with engine.begin() as conn:
            await deliveries.add(conn, batch, ["slack", "email"], now)
    assert [(r["channel"], r["trigger_id"]) for r in await rows(engine)] == [
        ("email", event.trigger_id),
        ("slack", event.trigger_id),
    ]

    lease = now + timedelta(seconds=20)
    claimed = await deliveries.claim_due(engine, now=now, lease_until=lease, limit=10)
    assert sorted(c.channel for c in claimed) == ["email", "slack"]
    assert {c.attempts for c in claimed} == {1}
    # Leased rows are nobody else's until the lease runs out.
    assert await deliveries.claim_due(engine, now=now, lease_until=lease, limit=10) == []

    email, slack = sorted(claimed, key=lambda c: c.channel)
    assert await deliveries.finish(
        engine, [(email, deliveries.delivered("sam@v.example", now))]
    ) == [True]
    retry_at = now + timedelta(seconds=5)
    failing = deliveries.retry("U1", "Slack HTTP 500", retry_at)
    assert await deliveries.finish(engine, [(slack, failing)]) == [True]
    assert await deliveries.count_pending(engine) == 1

    assert await deliveries.claim_due(engine, now=now, lease_until=lease, limit=10) == []
    later = retry_at + timedelta(seconds=1)
    [again] = await deliveries.claim_due(engine, now=later, lease_until=lease, limit=10)
    assert (again.channel, again.attempts) == ("slack", 2)
    gone = deliveries.final(deliveries.FAILED, "U1", "channel_not_found")
    assert await deliveries.finish(engine, [(again, gone)]) == [True]
    statuses = {r["channel"]: r["status"] for r in await rows(engine)}
    assert statuses == {"email": "delivered", "slack": "failed"}


async def test_concurrent_claims_never_share_a_row_on_postgresql(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await deliveries.add(conn, triggers(60), ["slack"], now)
    lease = now + timedelta(seconds=20)
    claims = await asyncio.gather(
        *(deliveries.claim_due(engine, now=now, lease_until=lease, limit=25) for _ in range(4))
    )
    keys = [c.dedup_key for claim in claims for c in claim]
    assert len(keys) == len(set(keys)) == 60


async def test_an_expired_lease_lets_another_worker_take_over(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await deliveries.add(conn, triggers(1), ["email"], now)
    [first] = await deliveries.claim_due(
        engine, now=now, lease_until=now + timedelta(seconds=1), limit=5
    )
    later = now + timedelta(seconds=2)
    [second] = await deliveries.claim_due(
        engine, now=later, lease_until=later + timedelta(seconds=20), limit=5
    )
    assert second.attempts == 2
    # The first worker's late answer no longer counts; the current holder's does.
    late, current = (deliveries.delivered(r, later) for r in ("x@v.example", "y@v.example"))
    assert await deliveries.finish(engine, [(first, late), (second, current)]) == [False, True]
    [stored] = await rows(engine)
    assert stored["recipient"] == "y@v.example"
