"""Acknowledging or snoozing an alert (the API, the pages and the Slack buttons all call the
same functions) edits its Slack message: chat.update, once per kind, after the alert went;
the buttons give way to who did what. Email has nothing to edit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts import acknowledgements
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import finished, notice, produce, running, settled, trigger

Settings = Callable[..., UpSettings]


def _texts(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]
        for block in message.get("blocks", [])
        if block["type"] == "context"
        for element in block["elements"]
    ]


def _buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_acknowledging_then_snoozing_edits_the_alert_message(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5")
    event = trigger()
    key = event["dedup_key"]
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: finished(engine, key, "slack", "email"), what="the alert")
        sent = await notice(engine, key, "alert")
        assert sent is not None and sent["message_channel"] == "DU024BE7LH"
        channel, ts = sent["message_channel"], sent["message_ts"]
        before = slack_server.message(channel, ts)
        assert before is not None and "Acknowledge" in _buttons(before)

        alert = await acknowledgements.alerted(engine, event["trigger_id"])
        assert alert is not None
        await acknowledgements.acknowledge(engine, event["trigger_id"], "sam", utcnow())
        await wait_for(lambda: settled(engine, key, "acked"), what="the acknowledged edit")
        await acknowledgements.snooze(engine, alert, 7, "dana", utcnow())
        await wait_for(lambda: settled(engine, key, "snoozed"), what="the snoozed edit")
        # A second acknowledgement keeps the first and edits nothing again.
        await acknowledgements.acknowledge(engine, event["trigger_id"], "lee", utcnow())

    assert len(slack_server.updated()) == 2
    after = slack_server.message(channel, ts)
    assert after is not None
    assert _buttons(after) == []  # no link without PULSE_PUBLIC_URL, no buttons any more
    assert "Acknowledged by sam" in _texts(after) and "Snoozed for 7 days by dana" in _texts(after)
    assert after["metadata"] == before["metadata"]  # still the same alert for lookups
    assert await notice(engine, key, "acked", "email") is None


async def test_an_edit_waits_for_its_alert_to_go(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None)
    event = trigger()
    key = event["dedup_key"]
    slack_server.fail_next(3, status=503)  # the alert's first tries fail
    async with running(settings, engine):
        await produce(settings, event)
        await wait_for(lambda: notice(engine, key, "alert"), what="the alert's row")
        await acknowledgements.acknowledge(engine, event["trigger_id"], "sam", utcnow())
        await wait_for(lambda: settled(engine, key, "acked"), what="the edit")
    alert, edit = await notice(engine, key, "alert"), await notice(engine, key, "acked")
    assert alert is not None and edit is not None
    assert alert["status"] == edit["status"] == "delivered"
    assert edit["delivered_at"] >= alert["delivered_at"]
    [update] = slack_server.updated()
    assert update.body["ts"] == alert["message_ts"]
