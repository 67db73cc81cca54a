"""Two alerts instances in one group, racing on the same routed triggers (each read twice,
some ended), with a grouped route and an escalation: every (dedup_key, receiver) reaches Slack
in one message, every critical alert still firing is escalated once, and every ended one gets
one reply per receiver."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.cli import UpSettings
from tests.helpers.alert_factories import SAM, produce, rows, running, trigger

Settings = Callable[..., UpSettings]

ROUTES = """\
receivers:
  - name: csm
    slack: {channel: account_csm}
  - name: leads
    slack: {channel: C0LEADS}
  - name: head
    slack: {channel: C0HEAD}
route:
  receiver: csm
  routes:
    - matchers: ['severity="critical"']
      receiver: leads
      continue: true
      group_by: [account_id]
      group_wait: 1s
    - {receiver: csm}
escalations:
  - {matchers: ['severity="critical"'], after: 2s, receiver: head}
"""
ACCOUNT = {"name": "Acme Corp", "plan": {"limits": {}}, "csm": SAM}


async def test_two_instances_send_each_routed_alert_and_notice_once(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = routed(ROUTES, smtp_host=None)
    fired = [
        trigger(f"a{n % 8}", account=ACCOUNT, severity="critical" if n % 2 else "warning")
        for n in range(40)
    ]
    ended = [
        {**event, "status": "resolved", "resolved_at": "2026-11-21T10:00:00Z"}
        for event in fired[::3]
    ]
    critical = [e for e in fired if e["severity"] == "critical"]
    ended_keys = {e["dedup_key"] for e in ended}
    critical_keys = {e["dedup_key"] for e in critical}
    expected = (
        {(e["dedup_key"], "csm", "alert") for e in fired}
        | {(e["dedup_key"], "leads", "alert") for e in critical}
        | {(key, "head", "escalated") for key in critical_keys - ended_keys}
    )
    count = len(fired) + 2 * len(critical) + len(ended_keys) + len(ended_keys & critical_keys)

    async def all_sent() -> bool:
        stored = await rows(engine)
        return len(stored) == count and all(r["status"] != "pending" for r in stored)

    async with running(settings, engine), running(settings, engine):
        await produce(settings, *fired, *fired, *ended, *ended)
        await wait_for(all_sent, timeout=60, what="every alert and notice settled")

    posted = Counter(
        (key, payload["receiver"], payload["notice"])
        for r in slack_server.posted()
        for payload in [r.body["metadata"]["event_payload"]]
        for key in payload.get("dedup_keys") or [payload["dedup_key"]]
    )
    assert set(posted) == expected and set(posted.values()) == {1}
    # The leads' alerts went grouped: fewer messages than alerts.
    to_leads = [r for r in slack_server.posted() if r.body["channel"] == "C0LEADS"]
    assert len(to_leads) < len(critical)
    replies = Counter(
        r.body["metadata"]["event_payload"]["dedup_key"] for r in slack_server.replies()
    )
    assert replies == Counter(
        key for key in ended_keys for _ in range(2 if key in critical_keys else 1)
    )
    escalations = [r for r in await rows(engine) if r["notice"] == "escalated"]
    assert {(r["dedup_key"], r["status"]) for r in escalations} == {
        (key, "skipped" if key in ended_keys else "delivered") for key in critical_keys
    }
