"""Two alerts instances in one group, racing on the same routed triggers (each read twice,
some ended): every (dedup_key, receiver) reaches Slack once, every ended one gets one reply."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

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
route:
  receiver: csm
  routes:
    - {matchers: ['severity="critical"'], receiver: leads, continue: true}
    - {receiver: csm}
"""
ACCOUNT = {"name": "Acme Corp", "plan": {"limits": {}}, "csm": SAM}


async def test_two_instances_send_each_routed_alert_and_notice_once(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer, tmp_path: Path
) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    settings = alert_settings(routes=str(tmp_path / "routes.yaml"), smtp_host=None)
    fired = [
        trigger(f"a{n % 8}", account=ACCOUNT, severity="critical" if n % 2 else "warning")
        for n in range(40)
    ]
    ended = [
        {**event, "status": "resolved", "resolved_at": "2026-11-21T10:00:00Z"}
        for event in fired[::4]
    ]
    expected = {(e["dedup_key"], "csm") for e in fired} | {
        (e["dedup_key"], "leads") for e in fired if e["severity"] == "critical"
    }

    async def all_sent() -> bool:
        stored = await rows(engine)
        return len(stored) == len(expected) + sum(
            2 if e["severity"] == "critical" else 1 for e in ended
        ) and all(r["status"] == "delivered" for r in stored)

    async with running(settings, engine), running(settings, engine):
        await produce(settings, *fired, *fired, *ended, *ended)
        await wait_for(all_sent, timeout=60, what="every alert and notice delivered")

    posted = Counter(
        (
            r.body["metadata"]["event_payload"]["dedup_key"],
            r.body["metadata"]["event_payload"]["receiver"],
        )
        for r in slack_server.posted()
    )
    assert set(posted) == expected and set(posted.values()) == {1}
    replies = Counter(
        r.body["metadata"]["event_payload"]["dedup_key"] for r in slack_server.replies()
    )
    assert replies == Counter(
        e["dedup_key"] for e in ended for _ in range(2 if e["severity"] == "critical" else 1)
    )
