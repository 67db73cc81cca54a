"""Grouping (group_by, group_wait, group_interval): the alerts of one account that come within
group_wait go to its CSM in one Slack message and one email; one that comes after the
group's message waits group_interval from it; another account's alert goes on its own. The
timers are the rows' due times, in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.models import Account
from services.alerts.senders import Attempt, Receipt, SlackSender
from services.cli import UpSettings
from shared.clock import utcnow
from shared.contracts.triggers import TriggerEvent
from tests.helpers.alert_factories import TOKEN, notice, parsed, produce, rows, running, trigger
from tests.helpers.servers import SmtpServer

Settings = Callable[..., UpSettings]

ROUTES = """\
receivers:
  - name: csm
    slack: {channel: account_csm}
    email: {to: account_csm}
route:
  receiver: csm
  group_by: [account_id]
  group_wait: 2s
  group_interval: 3s
"""


async def _all_sent(engine: AsyncEngine, count: int) -> bool:
    stored = await rows(engine)
    return len(stored) == count and all(r["status"] == "delivered" for r in stored)


def _keys(body: dict) -> list[str]:
    payload = body["metadata"]["event_payload"]
    return payload.get("dedup_keys") or [payload["dedup_key"]]


async def test_one_accounts_alerts_go_in_one_message_per_channel(
    routed: Settings, engine: AsyncEngine, slack_server: SlackServer, smtp_server: SmtpServer
) -> None:
    settings = routed(ROUTES)
    acme = [
        trigger(type="plan_limit_80"),
        trigger(type="single_threaded", category="risk"),
        trigger(type="champion_left", category="risk", severity="critical"),
    ]
    globex = trigger("globex")
    async with running(settings, engine):
        await produce(settings, *acme, globex)
        await wait_for(lambda: _all_sent(engine, 8), what="both groups, both channels")

        [group, alone] = sorted(slack_server.posted(), key=lambda r: len(_keys(r.body)))[::-1]
        assert sorted(_keys(group.body)) == sorted(e["dedup_key"] for e in acme)
        assert _keys(alone.body) == [globex["dedup_key"]]
        header = group.body["blocks"][0]["text"]["text"]
        assert header == ":rotating_light: 3 alerts: Acme Corp"  # the worst severity leads
        assert group.body["text"].startswith("3 alerts: Acme Corp: ")
        for title in ("Plan limit 80% reached", "Single-threaded account", "Champion left"):
            assert title in group.body["text"]
        sent = [await notice(engine, e["dedup_key"], "alert") for e in acme]
        assert len({s["message_ts"] for s in sent if s}) == 1  # one message, its thread theirs
        # The group waited group_wait for its alerts.
        first = min(s["created_at"] for s in sent if s)
        assert all(s["delivered_at"] >= first + timedelta(seconds=2) for s in sent if s)

        [grouped_mail] = [m for m in smtp_server.messages if "X-Pulse-Dedup-Keys" in m.message]
        assert grouped_mail.message["Subject"] == "[CRITICAL] 3 alerts: Acme Corp"
        assert set(grouped_mail.message["X-Pulse-Dedup-Keys"].split()) == {
            e["dedup_key"] for e in acme
        }
        assert len(smtp_server.messages) == 2

        # Another alert of acme after the group's message: group_interval after it.
        later = trigger(type="usage_decline", category="risk")
        await produce(settings, later)
        await wait_for(lambda: _all_sent(engine, 10), what="the later alert")
    row = await notice(engine, later["dedup_key"], "alert")
    assert row is not None
    last_message = max(s["delivered_at"] for s in sent if s)
    assert row["next_attempt_at"] >= last_message + timedelta(seconds=3)
    assert len(slack_server.posted()) == 3 and len(smtp_server.messages) == 3


async def test_a_groups_retry_posts_only_the_alerts_no_earlier_message_holds(
    slack_server: SlackServer,
) -> None:
    """After a crash, a group's retry may hold an alert that joined since the first try:
    that one alone is posted; a retry of what Slack already holds posts nothing."""
    first, second, joined = (
        parsed(trigger(type=t)) for t in ("plan_limit_80", "health_red", "usage_decline")
    )
    since = utcnow() - timedelta(seconds=5)
    async with httpx.AsyncClient() as client:
        slack = SlackSender(
            client, api_url=slack_server.url, token=TOKEN, default_channel=None, public_url=None
        )

        async def send(number: int, *events: TriggerEvent) -> Receipt | None:
            alerts = [(event, Account.of(event)) for event in events]
            return await slack.send_group(alerts, "U024BE7LH", Attempt(number, since))

        receipt = await send(1, first, second)
        again = await send(2, first, second, joined)
        assert again is not None and receipt is not None and again.ts != receipt.ts
        assert await send(3, first, second, joined) is not None
    assert [_keys(r.body) for r in slack_server.posted()] == [
        [first.dedup_key, second.dedup_key],
        [joined.dedup_key],
    ]
