"""Webhook receivers on the running alerts service: the trigger event, signed as Standard
Webhooks specifies (checked here by an implementation of our own, not the library the service
signs with), retried on 408, 429, 5xx with the same webhook-id, failed at once on another 4xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.waiting import wait_for
from services.cli import UpSettings
from shared.errors import ConfigurationError
from tests.helpers.alert_factories import produce, rows, running, trigger
from tests.helpers.webhooks import Received, WebhookReceiver

Settings = Callable[..., UpSettings]

KEY = b"a webhook secret of the CRM team"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def routes(url: str) -> str:
    return f"""\
receivers:
  - name: csm
    email: {{to: account_csm}}
  - name: crm
    webhook: {{url: "{url}", secret_env: PULSE_WEBHOOK_SECRET_CRM}}
route:
  receiver: csm
  routes:
    - matchers: ['type=~"renewal_.*"']
      receiver: crm
"""


@pytest.fixture
async def crm() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def signed_by_key(received: Received, key: bytes) -> bool:
    """Standard Webhooks' check, written from the specification: the HMAC-SHA256 of
    "{webhook-id}.{webhook-timestamp}.{body}" with the secret's bytes, base64, after "v1,";
    the timestamp within five minutes."""
    headers = received.headers
    if abs(time.time() - int(headers["webhook-timestamp"])) > 300:
        return False
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s[:3] == "v1,"]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


async def _settled(engine: AsyncEngine, dedup_key: str) -> dict | None:
    [row] = await rows(engine, dedup_key) or [None]
    return row if row is not None and row["status"] != "pending" else None


async def _delivered(settings: UpSettings, engine: AsyncEngine, event: dict) -> dict:
    """The webhook delivery of the event, once it is no longer pending."""
    async with running(settings, engine):
        await produce(settings, event)
        found = await wait_for(lambda: _settled(engine, event["dedup_key"]), what="the webhook")
    return dict(found)


@pytest.fixture
def signed(
    alert_settings: Settings,
    crm: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> UpSettings:
    """Settings routing renewals to the crm receiver, its secret set, email off."""
    monkeypatch.setenv("PULSE_WEBHOOK_SECRET_CRM", SECRET)
    (tmp_path / "routes.yaml").write_text(routes(crm.url))
    return alert_settings(routes=str(tmp_path / "routes.yaml"), smtp_host=None)


async def test_a_renewal_reaches_the_crm_signed_retried_with_one_id(
    signed: UpSettings, engine: AsyncEngine, crm: WebhookReceiver
) -> None:
    renewal = trigger(type="renewal_window", category="lifecycle", severity="info")
    crm.answer_next(503)
    crm.answer_next(429, {"Retry-After": "0"})
    crm.answer_next(408)
    row = await _delivered(signed, engine, renewal)

    assert (row["receiver"], row["channel"], row["status"]) == ("crm", "webhook", "delivered")
    assert row["attempts"] == 4 and row["recipient"] == crm.url
    assert [r.status for r in crm.received] == [503, 429, 408, 200]
    assert len({r.headers["webhook-id"] for r in crm.received}) == 1  # one id for every try
    assert all(signed_by_key(r, KEY) for r in crm.received)
    assert not signed_by_key(crm.received[0], b"another key")
    event = json.loads(crm.received[-1].body)
    assert (event["dedup_key"], event["type"]) == (renewal["dedup_key"], "renewal_window")
    assert crm.received[-1].headers["content-type"] == "application/json"


async def test_a_webhook_refusing_the_event_fails_it_without_retrying(
    signed: UpSettings, engine: AsyncEngine, crm: WebhookReceiver
) -> None:
    renewal = trigger(type="renewal_at_risk", category="risk", severity="critical")
    crm.answer_next(422)
    row = await _delivered(signed, engine, renewal)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("webhook answered 422")
    assert len(crm.received) == 1


async def test_a_webhook_secret_named_but_not_set_stops_the_service(
    alert_settings: Settings,
    engine: AsyncEngine,
    crm: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULSE_WEBHOOK_SECRET_CRM", raising=False)
    (tmp_path / "routes.yaml").write_text(routes(crm.url))
    settings = alert_settings(routes=str(tmp_path / "routes.yaml"))
    with pytest.raises(ConfigurationError) as raised:
        async with running(settings, engine):
            pass
    assert str(raised.value) == (
        "PULSE_WEBHOOK_SECRET_CRM is not set: the secret of the webhook receiver 'crm'"
    )
