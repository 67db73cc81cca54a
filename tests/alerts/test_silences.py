"""Silences on the running alerts service: a delivery a silence in force mutes is recorded
`silenced` and never sent, whether the silence came before the trigger or after its delivery
was made; a pending or expired silence mutes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import repository, silences
from services.alerts.silences import Silence
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import (
    emails_for,
    finished,
    parsed,
    produce,
    rows,
    running,
    slack_for,
    trigger,
)
from tests.helpers.servers import SmtpServer

Settings = Callable[..., UpSettings]
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACME_LIMITS = [
    {"name": "account_id", "value": "acme", "isRegex": False, "isEqual": True},
    {"name": "type", "value": "plan_limit_.*", "isRegex": True, "isEqual": True},
]


def _silence(starts: datetime, ends: datetime, matchers: list[dict] = ACME_LIMITS) -> Silence:
    return Silence("s1", matchers, starts, ends, "sam", "handled", starts)


def test_a_silence_mutes_what_it_matches_while_it_is_in_force() -> None:
    labels = {"account_id": "acme", "type": "plan_limit_80"}
    silence = _silence(NOON, NOON + timedelta(hours=1))
    assert silence.state(NOON - timedelta(seconds=1)) == "pending"
    assert not silence.mutes(labels, NOON - timedelta(seconds=1))
    assert silence.state(NOON) == "active" and silence.mutes(labels, NOON)
    assert not silence.mutes({**labels, "account_id": "globex"}, NOON)
    assert not silence.mutes({**labels, "type": "health_red"}, NOON)
    assert silence.state(NOON + timedelta(hours=1)) == "expired"
    assert not silence.mutes(labels, NOON + timedelta(hours=1))
    other = [{"name": "account_id", "value": "acme", "isRegex": False, "isEqual": False}]
    assert _silence(NOON, NOON + timedelta(hours=1), other).mutes({"account_id": "x"}, NOON)


async def _silence_acme(engine: AsyncEngine, starts: datetime, ends: datetime) -> str:
    return await silences.create(
        engine,
        matchers=ACME_LIMITS,
        starts_at=starts,
        ends_at=ends,
        created_by="sam@vendor.example",
        comment="limit raised in the CRM",
        now=utcnow(),
    )


async def test_a_silenced_trigger_is_recorded_and_never_sent(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    now = utcnow()
    silence_id = await _silence_acme(engine, now - timedelta(minutes=1), now + timedelta(days=1))
    await _silence_acme(engine, now + timedelta(days=1), now + timedelta(days=2))  # pending
    await _silence_acme(engine, now - timedelta(days=2), now - timedelta(days=1))  # expired
    settings = alert_settings()
    muted = trigger()  # acme's plan_limit_80
    health = trigger(type="health_red", category="risk", severity="critical")
    globex = trigger("globex")
    async with running(settings, engine):
        await produce(settings, muted, health, globex)
        for event in (muted, health, globex):
            await wait_for(lambda e=event: finished(engine, e["dedup_key"], "slack", "email"))

    stored = await rows(engine, muted["dedup_key"])
    assert {r["channel"]: r["status"] for r in stored} == {"slack": "silenced", "email": "silenced"}
    assert all(r["last_error"].startswith(f"silenced by {silence_id}") for r in stored)
    assert slack_for(slack_server, muted["dedup_key"]) == []
    assert emails_for(smtp_server, muted["dedup_key"]) == []
    for sent in (health, globex):
        assert len(slack_for(slack_server, sent["dedup_key"])) == 1
        assert len(emails_for(smtp_server, sent["dedup_key"])) == 1


async def test_a_silence_set_after_the_delivery_was_made_still_mutes_it(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    event = trigger()
    async with engine.begin() as conn:  # as if read before the silence was set
        await repository.add(conn, [parsed(event)], ["slack", "email"], utcnow())
    now = utcnow()
    await _silence_acme(engine, now - timedelta(minutes=1), now + timedelta(days=1))
    async with running(alert_settings(), engine):
        await wait_for(lambda: finished(engine, event["dedup_key"], "slack", "email"))
    assert {r["status"] for r in await rows(engine, event["dedup_key"])} == {"silenced"}
    assert slack_server.posted() == [] and smtp_server.messages == []
