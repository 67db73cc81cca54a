"""The deliveries repository on both databases it supports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import migrate
from services.alerts import leases, repository
from shared.clock import utcnow
from shared.contracts.triggers import TriggerEvent, parse_trigger
from shared.db.engine import create_engine
from tests.helpers.alert_factories import rows, trigger


def triggers(count: int, **overrides: Any) -> list[TriggerEvent]:
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
            await repository.add(conn, batch, ["slack", "email"], now)
    assert [(r["channel"], r["trigger_id"]) for r in await rows(engine)] == [
        ("email", event.trigger_id),
        ("slack", event.trigger_id),
    ]

    lease = timedelta(seconds=20)

    async def claim(at: datetime) -> list[leases.Claimed]:
        return [
            row
            for channel in ("email", "slack")
            for row in await leases.claim_due(
                engine, now=at, lease=lease, limit=10, channel=channel
            )
        ]

    claimed = await claim(now)
    assert sorted(c.channel for c in claimed) == ["email", "slack"]
    assert {c.attempts for c in claimed} == {1}
    assert not any(c.in_doubt for c in claimed)
    # Leased rows are nobody else's until the lease runs out.
    assert await claim(now) == []

    email, slack = sorted(claimed, key=lambda c: c.channel)
    assert await leases.finish(engine, [(email, leases.delivered("sam@v.example", now))]) == [True]
    retry_at = now + timedelta(seconds=5)
    failing = leases.retry("U1", "Slack HTTP 500", retry_at)
    assert await leases.finish(engine, [(slack, failing)]) == [True]
    assert await repository.count_pending(engine) == 1

    assert await claim(now) == []
    later = retry_at + timedelta(seconds=1)
    [again] = await claim(later)
    assert (again.channel, again.attempts) == ("slack", 2)
    assert not again.in_doubt  # attempt 1 ended with an outcome: a retry
    gone = leases.final(leases.FAILED, "U1", "channel_not_found")
    assert await leases.finish(engine, [(again, gone)]) == [True]
    statuses = {r["channel"]: r["status"] for r in await rows(engine)}
    assert statuses == {"email": "delivered", "slack": "failed"}


async def test_concurrent_claims_never_share_a_row_on_postgresql(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(conn, triggers(60), ["slack"], now)
    lease = timedelta(seconds=20)
    claims = await asyncio.gather(
        *(
            leases.claim_due(engine, now=now, lease=lease, limit=25, channel="slack")
            for _ in range(4)
        )
    )
    keys = [c.dedup_key for claim in claims for c in claim]
    assert len(keys) == len(set(keys)) == 60


async def test_an_expired_lease_lets_another_worker_take_over(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(conn, triggers(1), ["email"], now)
    [first] = await leases.claim_due(
        engine, now=now, lease=timedelta(seconds=1), limit=5, channel="email"
    )
    later = now + timedelta(seconds=2)
    [second] = await leases.claim_due(
        engine, now=later, lease=timedelta(seconds=20), limit=5, channel="email"
    )
    assert second.attempts == 2
    # Nobody recorded how attempt 1 ended: it may have reached the receiver.
    assert second.in_doubt
    # The first worker's late answer no longer counts; the current holder's does.
    late, current = (leases.delivered(r, later) for r in ("x@v.example", "y@v.example"))
    assert await leases.finish(engine, [(first, late), (second, current)]) == [False, True]
    [stored] = await rows(engine)
    assert stored["recipient"] == "y@v.example"


async def test_each_channel_claims_only_its_own_rows(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(conn, triggers(3), ["slack", "email"], now)
    lease = timedelta(seconds=20)
    email = await leases.claim_due(engine, now=now, lease=lease, limit=2, channel="email")
    assert [c.channel for c in email] == ["email", "email"]
    slack = await leases.claim_due(engine, now=now, lease=lease, limit=9, channel="slack")
    assert [c.channel for c in slack] == ["slack"] * 3


async def test_an_operator_skips_the_pending_rows_of_a_channel(engine: AsyncEngine) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(conn, triggers(2), ["slack", "email"], now)
    assert await repository.pending_elsewhere(engine, ["slack"]) == {"email": 2}
    assert await repository.skip_channel(engine, "email", "gone") == 2
    stored = {(r["channel"], r["status"], r["last_error"]) for r in await rows(engine)}
    assert stored == {("slack", "pending", None), ("email", "skipped", "gone")}
    assert await repository.pending_elsewhere(engine, ["slack"]) == {}


async def test_leases_run_on_the_database_clock(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances whose clocks disagree by more than a lease still never hold one row at
    once: a claim takes the database's time, whatever the worker's clock says."""
    async with engine.begin() as conn:
        await repository.add(conn, triggers(1), ["email"], utcnow())
    [held] = await leases.claim_due(engine, lease=timedelta(seconds=20), limit=1, channel="email")
    ahead = utcnow() + timedelta(hours=1)
    monkeypatch.setattr("shared.db.engine.utcnow", lambda: ahead)
    assert (
        await leases.claim_due(engine, lease=timedelta(seconds=20), limit=1, channel="email") == []
    )
    assert held.attempts == 1
