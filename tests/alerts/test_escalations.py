"""Escalations: an alert nobody acknowledged goes to the escalation's receiver once its time
is up, once, also across a restart of the alerts service; an acknowledgement, the alert
resolving, or a silence stops it. The timer is the row's due time, in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import acknowledgements, leases, repository, silences
from services.alerts.routing.loading import parse_routes
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import (
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
