"""Plain async factories for alert tests: triggers, a running service, rows; the Slack token
they configure; and what Slack and SMTP received for one alert."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from services.alerts.service import run_alerts
from services.alerts.settings import AlertsSettings
from services.alerts.tables import deliveries
from shared.clock import iso, utcnow
from shared.contracts.triggers import TriggerEvent, parse_trigger
from shared.readiness import Readiness
from tests.helpers.servers import SmtpServer

TOKEN = "xoxb-test-0123456789-secret"

SAM = {"name": "Sam Lee", "email": "sam@vendor.example", "slack": "U024BE7LH"}
# The account as scoring records it in the trigger event when it fires.
ACME = {
    "name": "Acme Corp",
    "plan": {"name": "Growth", "period": "month", "limits": {}},
    "csm": SAM,
}


def trigger(
    account_id: str = "acme", *, account: dict[str, Any] | None = ACME, **overrides: Any
) -> dict[str, Any]:
    """A trigger event as scoring publishes it (contract example), with a fresh dedup_key; it
    carries `account` as recorded when it fired (None: an event that carries none)."""
    period = uuid.uuid4().hex[:8]
    return {
        "trigger_id": uuid.uuid4().hex,
        "type": "plan_limit_80",
        "account_id": account_id,
        "fired_at": "2026-11-20T10:00:05Z",
        "severity": "warning",
        "dedup_key": f"{account_id}:plan_limit_80:api_calls:{period}",
        "summary": "Acme Corp used 82% of api_calls (82,000 of 100,000) this month",
        "details": {"metric": "api_calls", "used": 82000, "limit": 100000, "ratio": 0.82},
        "health": {"score": 71, "band": "green"},
        "status": "firing",
        "category": "expansion",
        "account": account,
        **overrides,
    }


async def produce(settings: AlertsSettings, *values: dict[str, Any] | bytes) -> None:
    """Send to the triggers topic, keyed by account so one account's triggers stay in order."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            key = value.get("account_id", "acme") if isinstance(value, dict) else "acme"
            await producer.send_and_wait(settings.topics.triggers, raw, key=str(key).encode())
    finally:
        await producer.stop()


@asynccontextmanager
async def running(settings: AlertsSettings, engine: AsyncEngine) -> AsyncIterator[Readiness]:
    """run_alerts as a task, stopped (and its failure surfaced) on exit."""
    stop = asyncio.Event()
    readiness = Readiness()
    task = asyncio.create_task(run_alerts(settings, engine, readiness, stop))
    try:
        yield readiness
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def rows(engine: AsyncEngine, dedup_key: str | None = None) -> list[dict[str, Any]]:
    query = select(deliveries).order_by(deliveries.c.created_at, deliveries.c.channel)
    if dedup_key is not None:
        query = query.where(deliveries.c.dedup_key == dedup_key)
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


async def row(engine: AsyncEngine, dedup_key: str, channel: str) -> dict[str, Any] | None:
    return next((r for r in await rows(engine, dedup_key) if r["channel"] == channel), None)


async def finished(engine: AsyncEngine, dedup_key: str, *channels: str) -> bool:
    """True once each channel's delivery of this alert has left `pending`."""
    found = {
        r["channel"]: r["status"] for r in await rows(engine, dedup_key) if r["notice"] == "alert"
    }
    return all(found.get(c) not in (None, "pending") for c in channels)


async def notice(
    engine: AsyncEngine, dedup_key: str, kind: str, channel: str = "slack"
) -> dict[str, Any] | None:
    """The row of this notice (services/alerts/notices.py) of the alert on `channel`."""
    found = [
        r for r in await rows(engine, dedup_key) if (r["notice"], r["channel"]) == (kind, channel)
    ]
    return found[0] if found else None


async def settled(engine: AsyncEngine, dedup_key: str, kind: str, channel: str = "slack") -> bool:
    """True once that notice exists and has left `pending`."""
    found = await notice(engine, dedup_key, kind, channel)
    return found is not None and found["status"] != "pending"


def slack_for(server: SlackServer, dedup_key: str) -> list[dict]:
    return [
        r.body
        for r in server.posted()
        if r.body["metadata"]["event_payload"]["dedup_key"] == dedup_key
    ]


def body_of(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def emails_for(server: SmtpServer, dedup_key: str) -> list:
    return [m for m in server.messages if m.message["X-Pulse-Dedup-Key"] == dedup_key]


def parsed(event: dict[str, Any]) -> TriggerEvent:
    """A trigger event as alerts reads it off cs.triggers."""
    return parse_trigger(orjson.dumps(event), max_bytes=1 << 20)


def silence_body(**overrides: object) -> dict[str, object]:
    """A silence as POST /v1/silences takes it: acme's renewal triggers, for a week."""
    now = utcnow()
    return {
        "matchers": [
            {"name": "account_id", "value": "acme", "isRegex": False},
            {"name": "type", "value": "renewal_.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": iso(now - timedelta(minutes=1)),
        "endsAt": iso(now + timedelta(days=7)),
        "createdBy": "sam@vendor.example",
        "comment": "renewal handled by the account team this quarter",
        **overrides,
    }
