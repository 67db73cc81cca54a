"""What the pages' tests share: Debian's chromium under Playwright, signing in as a user
does, the accounts a CSM looks after (sent as scoring reads them), and what the Slack
stand-in received about one alert."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, Page, Playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, usage
from harness.slack import SlackServer
from services.cli import UpSettings
from shared.clock import utcnow

# Debian's package (`apt-get install chromium`; .ci/run installs it): Playwright drives it,
# and never downloads a browser of its own.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

SAM = {"name": "Sam Lee", "email": "sam@vendor.example", "slack": "U024BE7LH"}
KIM = {"name": "Kim Park", "email": "kim@vendor.example", "slack": "U0KIMPARK"}
# Three accounts of two CSMs; acme's api_calls limit is low enough for one event to cross 80%.
ACCOUNTS = {
    "acme": {"name": "Acme Corp", "csm": SAM, "tier": 1, "segment": "enterprise", "arr": 120000},
    "globex": {"name": "Globex", "csm": KIM, "tier": 2, "segment": "smb", "arr": 50000},
    "initech": {"name": "Initech", "csm": SAM, "tier": 3, "segment": "mid-market", "arr": 30000},
}
LIMITS = {"api_calls": 100, "exports": 100}


@dataclass
class Pulse:
    """The running API (base: its address), its settings and database."""

    base: str
    settings: UpSettings
    engine: AsyncEngine


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)


def now_ts(minutes_ago: float = 0) -> float:
    return utcnow().timestamp() - minutes_ago * 60


def portfolio_signals() -> list[dict[str, Any]]:
    """The accounts' records, and a usage event per account, in the last hour."""
    signals: list[dict[str, Any]] = []
    renewal = (utcnow() + timedelta(days=60)).date().isoformat()
    for account_id, fields in ACCOUNTS.items():
        record = account_record(account_id, LIMITS, renewal_date=renewal, **fields)
        record["ts"] = now_ts(60)
        signals.append(record)
        signals.append(over_limit(account_id, "api_calls", value=1, minutes_ago=50))
    return signals


def handed_over(account_id: str, csm: dict[str, str]) -> dict[str, Any]:
    """The account's record again, with another CSM."""
    record = account_record(account_id, LIMITS, csm=csm, **{
        k: v for k, v in ACCOUNTS[account_id].items() if k != "csm"
    })  # fmt: skip
    record["ts"] = now_ts(10)
    return record


def over_limit(
    account_id: str, metric: str, value: float = 90, minutes_ago: float = 30
) -> dict[str, Any]:
    """A usage event of `value` of `metric`: 90 takes an account over 80% of LIMITS (and
    below 100% with the 1 portfolio_signals sent)."""
    signal = usage(account_id, 0, metric=metric, value=value, user_id=f"{account_id}-u1")
    signal["ts"] = now_ts(minutes_ago)
    return signal


async def send(settings: UpSettings, *signals: dict[str, Any]) -> None:
    """Signals to scoring's topic, keyed by account as ingest writes them."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for signal in signals:
            await producer.send_and_wait(
                settings.topics.signals,
                orjson.dumps(signal),
                key=signal["account_id"].encode(),
            )
    finally:
        await producer.stop()


async def sign_in(page: Page, base: str, token: str) -> None:
    """As a CSM does: open a page, land on the sign-in form, paste the token once."""
    await page.goto(f"{base}/ui")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/ui")


def slack_message_of(slack: SlackServer, trigger_id: str) -> dict[str, Any] | None:
    """The alert's message as it stands in the stand-in's conversation (with its ts)."""
    for messages in slack.history.values():
        for message in messages:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("trigger_id") == trigger_id:
                return message
    return None


def updates_of(slack: SlackServer, ts: str) -> list[dict[str, Any]]:
    """The chat.update calls the stand-in received for the message with this ts."""
    return [
        r.body
        for r in slack.lookups
        if r.path.endswith("/chat.update") and str(r.body.get("ts")) == ts
    ]
