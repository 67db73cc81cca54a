"""/v1/slack/interactions: a click on an alert's Acknowledge or Snooze button, signed by the
Slack app (v0: HMAC-SHA256 of "v0:{timestamp}:{body}" with the signing secret, the timestamp
within five minutes), acknowledges or snoozes the alert and replaces the message through the
response_url; a request not signed so is a 401, with or without API tokens."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from services.alerts import repository
from services.alerts.messages.slack import slack_blocks
from services.alerts.models import Account
from services.scoring import tokens
from shared.clock import utcnow
from tests.helpers.alert_factories import parsed, trigger
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer
from tests.helpers.servers import free_port

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _click(action: str, trigger_id: str, response_url: str, blocks: list[Any]) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "sam", "name": "sam"},
        "actions": [{"action_id": action, "value": trigger_id, "block_id": "pulse_actions"}],
        "response_url": response_url,
        "message": {"text": "the alert", "blocks": blocks},
    }
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


def _signed(body: bytes, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {
        **FORM,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


async def test_a_signed_click_acknowledges_and_updates_the_message(
    settings_factory: Any, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    event = trigger()
    async with engine.begin() as conn:
        await repository.add(conn, [parsed(event)], ["slack"], utcnow())
    blocks = slack_blocks(parsed(event), Account.of(parsed(event)), None, buttons=True)
    [actions] = [b for b in blocks if b.get("block_id") == "pulse_actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Acknowledge", "Snooze 7 days"]
    settings = settings_factory(slack_signing_secret=SECRET, api_port=_port())
    async with scoring(settings, engine) as api:
        ops = await tokens.create_token(engine, "ops", tokens.WRITE)  # the API is closed now
        url = slack_server.response_url("ack")
        body = _click("pulse_ack", event["trigger_id"], url, blocks)
        clicked = await api.post("/v1/slack/interactions", content=body, headers=_signed(body))
        assert clicked.status_code == 200, clicked.text
        assert clicked.json() == {"handled": ["Acknowledged by sam"]}
        [alert] = (await api.get("/v1/alerts", headers=bearer(ops))).json()["alerts"]
        assert alert["acknowledged_by"] == "sam"
        [update] = slack_server.responses
        assert update.body["replace_original"] is True
        shown = orjson.dumps(update.body["blocks"]).decode()
        assert "Acknowledged by sam" in shown and "pulse_ack" not in shown

        snooze = _click("pulse_snooze_7d", event["trigger_id"], url, blocks)
        snoozed = await api.post("/v1/slack/interactions", content=snooze, headers=_signed(snooze))
        assert snoozed.json() == {"handled": ["Snoozed for 7 days by sam"]}


async def test_a_click_not_signed_by_the_app_or_too_old_is_refused(
    settings_factory: Any, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    event = trigger()
    async with engine.begin() as conn:
        await repository.add(conn, [parsed(event)], ["slack"], utcnow())
    settings = settings_factory(slack_signing_secret=SECRET, api_port=_port())
    body = _click("pulse_ack", event["trigger_id"], slack_server.response_url("x"), [])
    async with scoring(settings, engine) as api:
        for headers in (
            _signed(body, secret="another app's secret"),
            _signed(body, at=time.time() - 301),  # stale: over five minutes old
            {**_signed(body), "X-Slack-Request-Timestamp": str(int(time.time()) - 1)},  # replayed
            FORM,  # unsigned
            {**FORM, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        ):
            refused = await api.post("/v1/slack/interactions", content=body, headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
        other = _click("pulse_ack", event["trigger_id"], slack_server.response_url("x"), [1])
        replayed = await api.post("/v1/slack/interactions", content=other, headers=_signed(body))
        assert replayed.status_code == 401  # another body under a signature made for this one
        done = await api.get("/v1/alerts")
        assert [a["acknowledged_by"] for a in done.json()["alerts"]] == [None]
    assert slack_server.responses == []


async def test_without_a_signing_secret_there_are_no_interactions(
    settings_factory: Any, engine: AsyncEngine
) -> None:
    async with scoring(settings_factory(api_port=_port()), engine) as api:
        body = b"payload=%7B%7D"
        answer = await api.post("/v1/slack/interactions", content=body, headers=_signed(body))
        assert answer.status_code == 404


def _port() -> int:
    return free_port()
