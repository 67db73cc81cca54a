"""A database written by the code before a revision migrates forward without loss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import column, func, insert, inspect, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import migrate, schema
from services.alerts.models import Account
from services.alerts.tables import deliveries
from services.scoring.tables import accounts, api_tokens, triggers
from shared.contracts.triggers import TriggerEvent
from shared.db.tables import consumer_offsets
from tests.helpers.alert_factories import trigger
from tests.helpers.database import database_at

NOW = datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC)
# The deliveries table as revision 0004 has it: no receiver yet (its key would be returned).
DELIVERIES_AT_0004 = table(
    "deliveries",
    *(column(c.name) for c in deliveries.c if c.name not in ("receiver", "target")),
)
CSM = {"name": "Sam Lee", "email": "sam@vendor.example", "slack": "U024BE7LH"}
PROFILE = {
    "account_id": "acme",
    "name": "Acme Corp",
    "tier": 1,
    "arr": 120000.0,
    "csm": CSM,
    "plan": {"name": "Growth", "period": "month", "limits": {"api_calls": 100000.0}},
    "renewal_date": "2027-03-01",
}


def v1_trigger(tail: str) -> dict[str, object]:
    """A trigger event as scoring wrote it before events carried their account."""
    event = trigger(dedup_key=f"acme:plan_limit_80:{tail}")
    return {k: v for k, v in event.items() if k not in ("status", "category", "account")}


@pytest.fixture
async def at_0004() -> AsyncIterator[AsyncEngine]:
    async with database_at("0004") as engine:
        yield engine


async def _seed(engine: AsyncEngine) -> dict[str, dict[str, object]]:
    waiting, sent, delivered = v1_trigger("a:1"), v1_trigger("a:2"), v1_trigger("a:3")
    async with engine.begin() as conn:
        await conn.execute(
            accounts.insert().values(
                account_id="acme",
                partition=3,
                name="Acme Corp",
                score=71,
                band="green",
                profile=orjson.dumps(PROFILE).decode(),
                health="{}",
                recent_records="[]",
                state=b"\x01packed",
                updated_at=NOW,
            )
        )
        for event, published in ((waiting, False), (sent, True), (delivered, True)):
            await conn.execute(
                triggers.insert().values(
                    trigger_id=event["trigger_id"],
                    dedup_key=event["dedup_key"],
                    type="plan_limit_80",
                    account_id="acme",
                    fired_at=NOW,
                    severity="warning",
                    payload=orjson.dumps(event).decode(),
                    published=published,
                )
            )
        for event, status in ((sent, "pending"), (delivered, "delivered")):
            for channel in ("slack", "email"):
                row = {
                    "dedup_key": event["dedup_key"],
                    "channel": channel,
                    "trigger_id": event["trigger_id"],
                    "account_id": "acme",
                    "payload": orjson.dumps(event).decode(),
                    "status": status,
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
                await conn.execute(insert(DELIVERIES_AT_0004).values(row))
        await conn.execute(
            api_tokens.insert().values(
                token_hash="a" * 64, name="ops", scope="write", created_at=NOW
            )
        )
        await conn.execute(
            consumer_offsets.insert().values(
                group_id="pulse-alerts", topic="cs.triggers", partition=3, next_offset=42
            )
        )
    return {"waiting": waiting, "sent": sent, "delivered": delivered}


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows per table, for every table the database has (later revisions add some)."""
    async with engine.connect() as conn:
        present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        return {
            table.name: await conn.scalar(select(func.count()).select_from(table))
            for metadata in schema()
            for table in metadata.sorted_tables
            if table.name in present
        }


async def test_waiting_trigger_events_get_their_account_and_nothing_is_lost(
    at_0004: AsyncEngine,
) -> None:
    engine = at_0004
    events = await _seed(engine)
    before = await _counts(engine)

    await migrate(engine)

    after = await _counts(engine)
    assert {name: after[name] for name in before} == before
    async with engine.connect() as conn:
        outbox = dict((await conn.execute(select(triggers.c.dedup_key, triggers.c.payload))).all())
        pending = (
            await conn.execute(
                select(deliveries.c.payload, deliveries.c.status).where(
                    deliveries.c.dedup_key == events["sent"]["dedup_key"]
                )
            )
        ).all()
        delivered = await conn.scalar(
            select(deliveries.c.payload).where(
                deliveries.c.dedup_key == events["delivered"]["dedup_key"]
            )
        )
        offset = await conn.scalar(select(consumer_offsets.c.next_offset))
        token = await conn.scalar(select(api_tokens.c.name))

    waiting = TriggerEvent.model_validate_json(outbox[events["waiting"]["dedup_key"]])
    assert waiting.account is not None and waiting.account.name == "Acme Corp"
    assert waiting.account.tier == 1 and str(waiting.account.renewal_date) == "2027-03-01"
    assert waiting.status == "firing"
    for payload, status in pending:
        account = Account.of(TriggerEvent.model_validate_json(payload))
        assert status == "pending"
        assert (account.csm_email, account.csm_slack) == (CSM["email"], CSM["slack"])
    # History stays as it was written.
    assert orjson.loads(outbox[events["delivered"]["dedup_key"]]) == events["delivered"]
    assert orjson.loads(delivered) == events["delivered"]
    assert (offset, token) == (42, "ops")
