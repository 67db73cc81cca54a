"""The alerts service end to end: triggers on the real broker, rows in real PostgreSQL,
alerts to a real SMTP server and a local Slack Web API stand-in."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import repository
from services.cli import UpSettings
from shared.clock import utcnow
from shared.deadletter import headers_of
from tests.helpers.alert_factories import (
    TOKEN,
    body_of,
    emails_for,
    finished,
    parsed,
    produce,
    row,
    rows,
    running,
    slack_for,
    trigger,
)
from tests.helpers.servers import SmtpServer

Settings = Callable[..., UpSettings]


async def test_one_trigger_one_slack_message_and_one_email(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings(public_url="https://pulse.example")
    event = trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "slack", "email"), what="both deliveries")

    [request] = slack_server.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = request.body
    assert body["channel"] == "U024BE7LH"
    assert "Acme Corp" in body["text"] and "82% of api_calls" in body["text"]
    assert body["metadata"] == {
        "event_type": "pulse_trigger",
        "event_payload": {
            "type": "plan_limit_80",
            "account_id": "acme",
            "dedup_key": key,
            "trigger_id": event["trigger_id"],
            "receiver": "csm",
            "notice": "alert",
        },
    }
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header" and "Acme Corp" in blocks[0]["text"]["text"]
    section = blocks[1]
    assert "82% of api_calls" in section["text"]["text"]
    fields = " ".join(f["text"] for f in section["fields"])
    assert "warning" in fields and "71 (green)" in fields
    button = next(b for b in blocks if b["type"] == "actions")["elements"][0]
    assert button["url"] == "https://pulse.example/ui/accounts/acme"

    [received] = smtp_server.messages
    mail = received.message
    assert received.rcpt_tos == ["sam@vendor.example"]
    assert mail["From"] == "pulse@vendor.example"
    assert "WARNING" in mail["Subject"] and "Acme Corp" in mail["Subject"]
    assert mail["X-Pulse-Trigger-Type"] == "plan_limit_80"
    assert mail["X-Pulse-Account-Id"] == "acme"
    assert mail["X-Pulse-Dedup-Key"] == key
    assert mail["Message-ID"] == f"<{hashlib.sha256(key.encode()).hexdigest()}@accountpulse>"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = body_of(mail, "plain"), body_of(mail, "html")
    assert "82% of api_calls" in text and "71 (green)" in text
    assert "<h2>" in html and "Acme Corp" in html

    stored = {r["channel"]: r for r in await rows(engine, key)}
    assert stored["slack"]["status"] == stored["email"]["status"] == "delivered"
    assert stored["slack"]["recipient"] == "U024BE7LH"
    assert stored["email"]["recipient"] == "sam@vendor.example"
    assert stored["email"]["attempts"] == 1 and stored["email"]["delivered_at"] is not None


async def test_duplicated_triggers_alert_once(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings()
    first = trigger()
    again = {**first, "trigger_id": "another-id-same-dedup-key"}
    sentinel = trigger()  # same account, so same partition: read after the duplicates
    async with running(settings, engine):
        await produce(settings, first, first, again, sentinel)
        await wait_for(lambda: finished(engine, sentinel["dedup_key"], "slack", "email"))

    key = first["dedup_key"]
    assert len(slack_for(slack_server, key)) == 1
    assert len(emails_for(smtp_server, key)) == 1
    stored = await rows(engine, key)
    assert [r["channel"] for r in stored] == ["email", "slack"]
    assert {r["trigger_id"] for r in stored} == {first["trigger_id"]}


async def test_a_resolved_event_replies_once_in_the_alerts_thread_and_mails_nothing(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    """An episode's end: one reply in its Slack alert's thread (also when the resolved event is
    read twice), no email; a resolved event whose alert was never made gives no notice."""
    settings = alert_settings()
    fired = trigger()
    ended = {**fired, "status": "resolved", "resolved_at": "2026-11-21T10:00:00Z"}
    alone = {**trigger(), "status": "resolved", "resolved_at": "2026-11-21T10:00:00Z"}
    async with running(settings, engine):
        await produce(settings, alone, fired)
        await wait_for(lambda: finished(engine, fired["dedup_key"], "slack", "email"))
        await produce(settings, ended, ended)

        async def replied() -> bool:
            notices = [
                r for r in await rows(engine, fired["dedup_key"]) if r["notice"] == "resolved"
            ]
            return len(notices) == 1 and notices[0]["status"] == "delivered"

        await wait_for(replied, what="the resolved notice")

    assert await rows(engine, alone["dedup_key"]) == []
    [alert] = slack_for(slack_server, fired["dedup_key"])
    [reply] = [r.body for r in slack_server.replies()]
    stored = await rows(engine, fired["dedup_key"])
    [alert_ts] = [
        r["message_ts"] for r in stored if (r["channel"], r["notice"]) == ("slack", "alert")
    ]
    assert alert_ts in {m["ts"] for m in slack_server.history[f"D{alert['channel']}"]}
    assert reply["thread_ts"] == alert_ts
    assert reply["metadata"]["event_type"] == "pulse_trigger_resolved"
    assert reply["metadata"]["event_payload"]["dedup_key"] == fired["dedup_key"]
    assert reply["text"].startswith("Resolved: Acme Corp: Plan limit 80% reached ended at")
    assert len(emails_for(smtp_server, fired["dedup_key"])) == 1  # the alert's, nothing more


async def test_restart_resends_nothing(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings()
    first = trigger()
    async with running(settings, engine):
        await produce(settings, first)
        await wait_for(lambda: finished(engine, first["dedup_key"], "slack", "email"))

    sentinel = trigger()
    async with running(settings, engine):  # a new task, same consumer group
        await produce(settings, first, sentinel)  # the trigger read once more, then a new one
        await wait_for(lambda: finished(engine, sentinel["dedup_key"], "slack", "email"))

    assert len(slack_for(slack_server, first["dedup_key"])) == 1
    assert len(emails_for(smtp_server, first["dedup_key"])) == 1
    assert len(slack_server.requests) == 2 and len(smtp_server.messages) == 2


async def test_slack_failing_twice_then_recovering(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None)
    slack_server.fail_next(2, status=500)
    event = trigger()
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))

    assert [r.status for r in slack_server.requests] == [500, 500, 200]
    assert len(slack_server.posted()) == 1
    # Each retry first looked for an earlier post (there was none) in the CSM's DM, and the
    # retry's post, once landed, looked there for an older copy (none either).
    histories = [r for r in slack_server.lookups if r.path.endswith("conversations.history")]
    assert [r.body["channel"] for r in histories] == ["DU024BE7LH"] * 3
    assert not [r for r in slack_server.lookups if r.path.endswith("chat.delete")]
    stored = await row(engine, event["dedup_key"], "slack")
    assert stored is not None
    assert stored["status"] == "delivered" and stored["attempts"] == 3
    assert stored["last_error"] is None


async def test_slack_rate_limit_honours_retry_after(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None)
    slack_server.rate_limit_next(1, retry_after=1)
    event = trigger()
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))

    limited, accepted = slack_server.requests
    assert (limited.status, accepted.status) == (429, 200)
    # Retry-After (1 s) wins over the much shorter backoff the test settings configure.
    assert accepted.at - limited.at >= 0.9


async def test_smtp_refusing_then_accepting(
    alert_settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    settings = alert_settings(slack_bot_token=None)
    smtp_server.refuse_next(1)
    event = trigger()
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "email"))

    assert len(smtp_server.messages) == 1
    stored = await row(engine, event["dedup_key"], "email")
    assert stored is not None
    assert stored["status"] == "delivered" and stored["attempts"] == 2


async def test_permanent_slack_error_fails_without_retrying(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None)
    slack_server.error_next(5, "channel_not_found")
    event = trigger()
    async with running(settings, engine) as readiness:
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))
        assert "channel_not_found" in readiness.problems["alerts-delivery"]
        await asyncio.sleep(1.0)  # several polls and backoff periods of the test settings

    assert len(slack_server.requests) == 1
    stored = await row(engine, event["dedup_key"], "slack")
    assert stored is not None
    assert stored["status"] == "failed" and stored["attempts"] == 1
    assert "channel_not_found" in stored["last_error"]


async def test_transient_errors_give_up_after_max_attempts(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None, delivery_max_attempts=3)
    slack_server.fail_next(10, status=503)
    event = trigger()
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))
        await asyncio.sleep(1.0)

    assert len(slack_server.requests) == 3
    stored = await row(engine, event["dedup_key"], "slack")
    assert stored is not None
    assert stored["status"] == "failed" and stored["attempts"] == 3
    assert "gave up after 3 attempts" in stored["last_error"]


async def test_slow_slack_does_not_delay_email(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings(delivery_timeout_seconds=1.0)
    slack_server.delay = 3.0
    event = trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "email"), what="email")
        # The email went out while Slack was still sitting on its request.
        assert slack_server.requests == []
        slack = await row(engine, key, "slack")
        assert slack is not None and slack["status"] == "pending"

        slack_server.delay = 0  # Slack recovers: the timed-out send is retried
        await wait_for(lambda: finished(engine, key, "slack"), what="slack")

    # The timed-out request still lands once Slack gets to it: one message all the same,
    # posted once (the retry waited for Slack's late answer instead of posting again).
    await wait_for(slack_server.idle, what="Slack to finish the requests it took")
    assert len(slack_for(slack_server, key)) == 1
    assert len(slack_server.requests) == 1
    stored = await row(engine, key, "slack")
    assert stored is not None and stored["status"] == "delivered" and stored["attempts"] >= 2
    assert len(emails_for(smtp_server, key)) == 1


async def test_emails_under_way_at_once_stay_within_the_connection_bound(
    alert_settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    # Each email the relay accepted but the worker had not recorded yet is sent again after a
    # crash, so only a few may be under way at once, however many are due.
    settings = alert_settings(slack_bot_token=None, smtp_max_connections=2)
    smtp_server.delay = 0.2
    events = [trigger() for _ in range(8)]
    async with running(settings, engine):
        await produce(settings, *events)
        for event in events:
            await wait_for(lambda e=event: finished(engine, e["dedup_key"], "email"))

    assert len(smtp_server.messages) == 8
    assert smtp_server.most_at_once == 2


async def test_recipients_fall_back_or_skip(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    settings = alert_settings(slack_default_channel="#cs-alerts")
    globex = {"name": "Globex", "csm": {"name": "Kim", "email": "k@v.example"}}
    with_csm_email = trigger("globex", account=globex)
    unknown_account = trigger("initech", account=None)  # an event that carries no account
    async with running(settings, engine):
        await produce(settings, with_csm_email, unknown_account)
        for event in (with_csm_email, unknown_account):
            await wait_for(partial(finished, engine, event["dedup_key"], "slack", "email"))

    assert sorted(r.body["channel"] for r in slack_server.posted()) == ["#cs-alerts"] * 2
    assert [m.rcpt_tos for m in smtp_server.messages] == [["k@v.example"]]
    skipped = await row(engine, unknown_account["dedup_key"], "email")
    assert skipped is not None and skipped["status"] == "skipped"
    assert "no csm.email" in skipped["last_error"]
    # Without the account's record the alert names the account by its id.
    initech = slack_for(slack_server, unknown_account["dedup_key"])[0]
    assert "initech" in initech["blocks"][0]["text"]["text"]


async def test_console_when_no_channel_is_configured(
    settings_factory: Settings, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory()
    event = trigger()
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, event["dedup_key"], "console"))

    [stored] = await rows(engine, event["dedup_key"])
    assert (stored["channel"], stored["status"]) == ("console", "delivered")
    lines = [line for line in capsys.readouterr().out.splitlines() if event["dedup_key"] in line]
    assert len(lines) == 1
    assert "Acme Corp" in lines[0] and "warning" in lines[0] and "82% of api_calls" in lines[0]


async def test_malformed_triggers_are_dead_lettered(
    settings_factory: Settings, engine: AsyncEngine
) -> None:
    settings = settings_factory()
    before, after = trigger(), trigger()
    missing_key = {k: v for k, v in trigger().items() if k != "dedup_key"}
    async with running(settings, engine):
        await produce(settings, before, b"{not json", missing_key, after)
        for event in (before, after):
            await wait_for(partial(finished, engine, event["dedup_key"], "console"))
        letters = await read_all(settings, settings.topics.dead_letter, count=2)

    reasons = sorted(headers_of(r)["pulse-reason"] for r in letters)
    assert "dedup_key" in reasons[0] and "JSON" in reasons[1]
    assert {headers_of(r)["pulse-service"] for r in letters} == {"alerts"}
    assert b"{not json" in [r.value for r in letters]
    assert len(await rows(engine)) == 2


async def test_secrets_stay_out_of_logs_and_rows(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = alert_settings(smtp_host=None)
    slack_server.fail_next(1, status=502, body=f"proxy error for Bearer {TOKEN}")
    event = trigger()
    with caplog.at_level(logging.DEBUG):
        async with running(settings, engine):
            await produce(settings, event)
            await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))

    assert TOKEN not in caplog.text
    assert "Slack HTTP 502" in caplog.text and "***" in caplog.text
    history = await rows(engine, event["dedup_key"])
    assert all(TOKEN not in str(r) for r in history)


async def read_all(settings: UpSettings, topic: str, *, count: int) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found: list = []
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [r for records in batch.values() for r in records]
        return found
    finally:
        await consumer.stop()


async def test_an_instance_without_a_channel_leaves_its_deliveries_to_others(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    """Rows of a channel an instance does not send (restarted without it, or configured apart
    from the others) wait for an instance that sends it; they are never skipped for it."""
    event = parsed(trigger())
    key = event.dedup_key
    async with engine.begin() as conn:  # as an instance sending both channels created them
        await repository.add(conn, [event], ["slack", "email"], utcnow())

    email_only = alert_settings(slack_bot_token=None)
    async with running(email_only, engine) as readiness:
        await wait_for(lambda: finished(engine, key, "email"), what="the email")
        notices = readiness.notices
    slack_row = await row(engine, key, "slack")
    assert slack_row is not None and slack_row["status"] == "pending"
    assert "1 pending slack deliveries" in notices["alerts slack"]

    async with running(alert_settings(), engine):
        await wait_for(lambda: finished(engine, key, "slack"), what="the Slack message")
    assert [r.body["metadata"]["event_payload"]["dedup_key"] for r in slack_server.posted()] == [
        key
    ]
