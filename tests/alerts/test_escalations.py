"""Escalations: an alert nobody acknowledged goes to the escalation's receiver once its time
is up, once, also across a restart of the alerts service; an acknowledgement, the alert
resolving, or a silence stops it. The timer is the row's due time, in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import acknowledgements, inhibition, leases, repository, silences
from services.alerts.models import Account
from services.alerts.routing.loading import parse_routes
from services.alerts.senders import Attempt, SlackSender
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import (
    TOKEN,
    finished,
    notice,
    parsed,
    produce,
    running,
    settled,
    slack_for,
    trigger,
)

Settings = Callable[..., UpSettings]


def _routes(after: str) -> str:
    return f"""\
receivers:
  - name: csm
    slack: {{channel: account_csm}}
  - name: cs-leads
    slack: {{channel: C0LEADS}}
route:
  receiver: csm
escalations:
  - matchers: ['severity="critical"']
    after: {after}
    receiver: cs-leads
"""


def _critical(**overrides: object) -> dict:
    return trigger(type="champion_left", category="risk", severity="critical", **overrides)


def _to_leads(slack_server: SlackServer, key: str) -> list[dict]:
    return [body for body in slack_for(slack_server, key) if body["channel"] == "C0LEADS"]


async def test_an_unacknowledged_critical_alert_is_escalated_once_across_a_restart(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = routed(_routes("3s"), smtp_host=None)
    event, warning = _critical(), trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event, warning)
        await wait_for(lambda: finished(engine, key, "slack"), what="the alert")
        pending = await notice(engine, key, "escalated")
        assert pending is not None and pending["status"] == "pending"
        assert pending["next_attempt_at"] >= pending["created_at"] + timedelta(seconds=3)
    assert _to_leads(slack_server, key) == []  # stopped before it was due

    async with running(settings, engine):  # the timer was in the database
        await wait_for(lambda: settled(engine, key, "escalated"), what="the escalation")
    escalated = await notice(engine, key, "escalated")
    assert escalated is not None and escalated["status"] == "delivered"
    [message] = _to_leads(slack_server, key)
    assert message["text"].startswith("Escalated: not acknowledged within 3s: [critical]")
    assert message["metadata"]["event_payload"]["notice"] == "escalated"
    assert len(slack_for(slack_server, key)) == 2  # the CSM's alert, the leads' escalation
    # Only critical alerts escalate.
    assert await notice(engine, warning["dedup_key"], "escalated") is None


async def test_an_acknowledgement_stops_the_escalation(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = routed(_routes("1h"), smtp_host=None)
    event = _critical()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "slack"), what="the alert")
        await acknowledgements.acknowledge(engine, event["trigger_id"], "sam", utcnow())
    stopped = await notice(engine, key, "escalated")
    assert stopped is not None
    assert (stopped["status"], stopped["last_error"]) == (
        "skipped",
        "acknowledged by sam before it was due",
    )
    # Two hours later (an injected clock), there is no escalation to send.
    later = utcnow() + timedelta(hours=2)
    due = await leases.claim_due(
        engine, lease=timedelta(seconds=30), limit=10, channel="slack", now=later
    )
    assert [row.notice for row in due] == ["acked"]  # the message's edit, left by the stop


async def test_an_alert_resolved_before_its_deadline_is_not_escalated(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = routed(_routes("1s"), smtp_host=None)
    event = _critical()
    key = event["dedup_key"]
    resolved = {**event, "status": "resolved", "resolved_at": event["fired_at"]}
    async with running(settings, engine):
        await produce(settings, event, resolved)
        await wait_for(lambda: settled(engine, key, "escalated"), what="the escalation's end")
    ended = await notice(engine, key, "escalated")
    assert ended is not None
    assert (ended["status"], ended["last_error"]) == ("skipped", "resolved before it was due")
    assert _to_leads(slack_server, key) == []


async def test_a_silenced_alert_is_not_escalated(engine: AsyncEngine) -> None:
    routing = parse_routes(_routes("1s").encode(), "routes.yaml")
    event = parsed(_critical())
    now = utcnow()
    await silences.create(
        engine,
        matchers=[{"name": "account_id", "value": "acme", "isRegex": False, "isEqual": True}],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        created_by="sam",
        comment="on holiday",
        now=now,
    )
    async with engine.begin() as conn:
        in_force = await silences.in_force(conn, now)
        await repository.add(conn, [event], ["slack"], now, routing, in_force)
    escalation = await notice(engine, event.dedup_key, "escalated")
    assert escalation is not None and escalation["status"] == "silenced"


async def test_an_escalation_in_doubt_that_slack_has_is_recorded_sent(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    """A worker posted the escalation and died before storing it; meanwhile the alert
    resolved. The retry must not record `skipped` for a message the head of CS has: Slack is
    asked first, and the row says delivered."""
    settings = routed(_routes("1s"), smtp_host=None)
    event = parsed(_critical())
    now = utcnow()
    async with engine.begin() as conn:
        await repository.add(
            conn, [event], ["slack"], now, parse_routes(_routes("1s").encode(), "routes.yaml")
        )
    later = now + timedelta(seconds=2)  # an injected clock: the escalation is due
    claimed = await leases.claim_due(
        engine, lease=timedelta(0), limit=10, channel="slack", now=later
    )
    assert {row.notice for row in claimed} == {"alert", "escalated"}  # both died in flight
    async with httpx.AsyncClient() as client:
        dead = SlackSender(
            client, api_url=slack_server.url, token=TOKEN, default_channel=None, public_url=None
        )
        escalation = Attempt(1, now, "cs-leads", notice="escalated", note="not acknowledged")
        await dead.send(event, Account.of(event), "C0LEADS", escalation)
    async with engine.begin() as conn:
        ended = event.model_copy(update={"status": "resolved"})
        await inhibition.record(conn, [ended], utcnow())

    async with running(settings, engine):
        await wait_for(lambda: settled(engine, event.dedup_key, "escalated"), what="its retry")
    stored = await notice(engine, event.dedup_key, "escalated")
    assert stored is not None and (stored["status"], stored["in_doubt"]) == ("delivered", True)
    assert len(_to_leads(slack_server, event.dedup_key)) == 1
