"""Deliveries in doubt: an attempt that ended without an outcome (a crash, a lost database)
is tried again, and the receiver is asked first whether it has the alert already: Slack by
the message's metadata, email through the archive mailbox (Dovecot over IMAP)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import leases, messages, repository
from services.alerts.models import Account
from services.alerts.senders import Attempt, SlackSender
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import (
    SAM,
    TOKEN,
    emails_for,
    finished,
    parsed,
    produce,
    row,
    running,
    slack_for,
    trigger,
)
from tests.helpers.servers import MailArchiveServer, SmtpServer

Settings = Callable[..., UpSettings]


async def test_a_send_its_worker_never_finished_goes_again_marked_in_doubt(
    alert_settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = alert_settings(slack_bot_token=None)
    event = trigger()
    key = event["dedup_key"]
    await in_doubt_email(engine, event)
    before = REGISTRY.get_sample_value(
        "pulse_alert_deliveries_in_doubt_total", {"channel": "email"}
    )
    with caplog.at_level(logging.WARNING, logger="services.alerts.worker"):
        async with running(settings, engine):
            await wait_for(lambda: finished(engine, key, "email"), what="the second attempt")

    stored = await row(engine, key, "email")
    assert stored is not None
    assert (stored["status"], stored["attempts"], stored["in_doubt"]) == ("delivered", 2, True)
    assert len(emails_for(smtp_server, key)) == 1  # the dead worker had not sent it after all
    after = REGISTRY.get_sample_value("pulse_alert_deliveries_in_doubt_total", {"channel": "email"})
    assert (after or 0) - (before or 0) == 1
    assert f"email alert {key}: attempt 1 ended without an outcome" in caplog.text


async def in_doubt_email(engine: AsyncEngine, event: dict) -> None:
    """A delivery a worker claimed and died on before storing an outcome; its lease is out."""
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(conn, [parsed(event)], ["email"], now)
    await leases.claim_due(engine, now=now, lease=timedelta(0), limit=1, channel="email")


def mail_for(event: dict, settings: UpSettings) -> EmailMessage:
    """The email an attempt sends for this trigger to the seeded account's CSM."""
    account = Account("acme", "Acme Corp", csm_email=SAM["email"])
    return messages.email_message(
        parsed(event), account, sender=settings.email_from, recipient=SAM["email"], link=None
    )


def with_archive(
    settings: Settings, relay: SmtpServer, archive: MailArchiveServer, **overrides: Any
) -> UpSettings:
    """Settings for the archive, which the relay files a copy of each email into."""
    relay.archive = archive
    return settings(
        slack_bot_token=None,
        email_archive_address=archive.address,
        imap_host=archive.host,
        imap_port=archive.port,
        imap_tls=False,
        imap_username=archive.username,
        imap_password=archive.password,
        **overrides,
    )


async def email_in_doubt(
    settings: Settings, engine: AsyncEngine, relay: SmtpServer, archive: MailArchiveServer
) -> tuple[UpSettings, dict]:
    """The archive wired in, the account seeded, and one email in doubt: its settings and
    trigger."""
    wired = with_archive(settings, relay, archive)
    event = trigger()
    await in_doubt_email(engine, event)
    return wired, event


@pytest.mark.parametrize("relay_took_it", [True, False])
async def test_an_email_in_doubt_is_sent_again_only_if_the_archive_lacks_it(
    alert_settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    mail_archive: MailArchiveServer,
    relay_took_it: bool,
) -> None:
    settings, event = await email_in_doubt(alert_settings, engine, smtp_server, mail_archive)
    key = event["dedup_key"]
    if relay_took_it:  # the dead worker's try reached the relay, which filed the Bcc
        mail_archive.deliver(bytes(mail_for(event, settings)))
    async with running(settings, engine):
        await wait_for(lambda: finished(engine, key, "email"), what="the second attempt")

    stored = await row(engine, key, "email")
    assert stored is not None
    assert (stored["status"], stored["attempts"], stored["in_doubt"]) == ("delivered", 2, True)
    assert len(emails_for(smtp_server, key)) == (0 if relay_took_it else 1)
    # Exactly one copy in the archive either way; none of them lists the archive as recipient.
    assert len(mail_archive.message_ids()) == 1
    assert all(m.rcpt_tos == [SAM["email"]] for m in smtp_server.messages)
    assert all("Bcc" not in m.message for m in smtp_server.messages)


async def test_an_email_in_doubt_waits_while_the_archive_is_unreachable(
    alert_settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    mail_archive: MailArchiveServer,
) -> None:
    settings, event = await email_in_doubt(alert_settings, engine, smtp_server, mail_archive)
    key = event["dedup_key"]
    mail_archive.stop()  # the archive is down: sending blind could double the email

    async def retried() -> dict | None:
        stored = await row(engine, key, "email")
        return stored if stored and stored["last_error"] else None

    async with running(settings, engine):
        stored = await wait_for(retried, what="the retry to fail")

    assert stored["status"] == "pending" and stored["attempts"] == 2
    assert "email archive unreachable" in stored["last_error"]
    assert smtp_server.messages == []


async def test_a_refused_csm_leaves_no_copy_in_the_archive(
    alert_settings: Settings,
    engine: AsyncEngine,
    smtp_server: SmtpServer,
    mail_archive: MailArchiveServer,
) -> None:
    # The archive recipient alone must not get the message: its copy would tell a retry
    # that the CSM had it.
    smtp_server.refuse_recipient(SAM["email"], "450 4.2.1 Mailbox busy, try later")
    settings = with_archive(alert_settings, smtp_server, mail_archive, delivery_max_attempts=2)
    event = trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "email"), what="both attempts")

    stored = await row(engine, key, "email")
    assert stored is not None and stored["status"] == "failed" and stored["attempts"] == 2
    assert "450 4.2.1 Mailbox busy" in stored["last_error"]
    assert smtp_server.messages == [] and mail_archive.message_ids() == []


async def test_a_retry_finds_the_message_slack_kept_and_does_not_post_it_again(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    # Slack takes the message but its answer comes too late: the worker records a timeout.
    # The retry must find the message by its metadata instead of posting a second one.
    settings = alert_settings(
        smtp_host=None, delivery_timeout_seconds=0.5, delivery_backoff_base_seconds=2.0
    )
    slack_server.slow_next_posts(1.0)
    event = trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "slack"), what="the retry")

    assert len(slack_for(slack_server, key)) == 1
    stored = await row(engine, key, "slack")
    assert stored is not None and stored["status"] == "delivered" and stored["attempts"] == 2
    methods = [r.path.rsplit("/", 1)[-1] for r in slack_server.lookups]
    # The late answer was checked for an older copy; then the retry looked the message up.
    assert methods == ["conversations.history", "conversations.open", "conversations.history"]
    assert slack_server.lookups[-1].body["include_all_metadata"] == "true"


@pytest.mark.parametrize(
    ("post_delays", "lands_first"),
    [((1.5, 0), "the retry's post"), ((1.0, 1.0), "the timed-out post")],
)
async def test_a_post_retried_by_another_instance_leaves_one_message(
    slack_server: SlackServer, post_delays: tuple[float, float], lands_first: str
) -> None:
    # One instance's post times out and lands late; another instance's retry cannot wait for
    # it and posts. Whichever landed second finds the first and deletes itself.
    event = parsed(trigger())
    account, created = Account.of(event), utcnow()
    slack_server.slow_next_posts(*post_delays)
    async with httpx.AsyncClient() as client:
        first, second = (slack_sender(client, slack_server) for _ in range(2))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await first.send(event, account, SAM["slack"], Attempt(1, created))
        await second.send(event, account, SAM["slack"], Attempt(2, created))

        def kept() -> list[dict]:
            conversation = slack_server.history["D" + SAM["slack"]]
            payloads = [(m, m["metadata"]["event_payload"]) for m in conversation]
            return [m for m, payload in payloads if payload["dedup_key"] == event.dedup_key]

        await wait_for(lambda: slack_server.idle() and len(kept()) == 1, what=lands_first)

    assert len(slack_server.posted()) == 2
    deletions = [r for r in slack_server.lookups if r.path.endswith("/chat.delete")]
    assert len(deletions) == 1 and deletions[0].body["ts"] != kept()[0]["ts"]


def slack_sender(client: httpx.AsyncClient, slack_server: SlackServer) -> SlackSender:
    return SlackSender(
        client, api_url=slack_server.url, token=TOKEN, default_channel=None, public_url=None
    )
