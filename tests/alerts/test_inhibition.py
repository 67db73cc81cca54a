"""inhibit_rules: while a champion_left fires for an account, its single_threaded is recorded
silenced and not sent (also when both come in one batch, the muted one first); once the
champion_left is resolved, a new single_threaded goes out; other accounts are untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.processor import TriggerProcessor
from services.alerts.routing.loading import load_routes
from services.cli import UpSettings
from shared.offsets import OffsetMoves
from tests.helpers.alert_factories import finished, produce, rows, running, slack_for, trigger

Settings = Callable[..., UpSettings]

ROUTES = """\
receivers:
  - name: csm
    slack: {channel: account_csm}
route:
  receiver: csm
inhibit_rules:
  - source_matchers: ['type="champion_left"']
    target_matchers: ['type="single_threaded"']
    equal: [account_id]
"""


def _left(account_id: str, tail: str) -> dict:
    return trigger(
        account_id,
        type="champion_left",
        category="risk",
        severity="critical",
        dedup_key=f"{account_id}:champion_left:{tail}",
    )


def _single(account_id: str, tail: str) -> dict:
    return trigger(
        account_id,
        type="single_threaded",
        category="risk",
        dedup_key=f"{account_id}:single_threaded:{tail}",
    )


async def _status(engine: AsyncEngine, event: dict) -> tuple[str, str | None]:
    await wait_for(lambda: finished(engine, event["dedup_key"], "slack"))
    [row] = await rows(engine, event["dedup_key"])
    return row["status"], row["last_error"]


async def test_a_firing_champion_left_mutes_single_threaded_on_its_account(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer, tmp_path: Path
) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    settings = alert_settings(routes=str(tmp_path / "routes.yaml"), smtp_host=None)
    left, muted = _left("acme", "dana"), _single("acme", "2026-11-01")
    globex = _single("globex", "2026-11-01")
    async with running(settings, engine):
        await produce(settings, left, muted, globex)
        assert await _status(engine, muted) == (
            "silenced",
            f"inhibited by {left['dedup_key']}, firing",
        )
        assert (await _status(engine, globex))[0] == "delivered"
        assert (await _status(engine, left))[0] == "delivered"

        # The champion came back: the episode is resolved, and a new single_threaded goes.
        resolved = {**left, "status": "resolved", "resolved_at": "2026-11-25T10:00:00Z"}
        later = _single("acme", "2026-12-01")
        await produce(settings, resolved, later)
        assert (await _status(engine, later))[0] == "delivered"

    sent = {r.body["metadata"]["event_payload"]["dedup_key"] for r in slack_server.posted()}
    assert sent == {e["dedup_key"] for e in (left, globex, later)}
    assert slack_for(slack_server, muted["dedup_key"]) == []


async def test_in_one_batch_the_source_mutes_a_target_read_before_it(
    alert_settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    settings = alert_settings(routes=str(tmp_path / "routes.yaml"))
    single, left = _single("initech", "2026-11-01"), _left("initech", "lee")
    routing = load_routes(settings.routes)
    processor = TriggerProcessor(
        settings=settings,
        engine=engine,
        producer=cast(Any, None),  # no dead letters in this batch
        routing=lambda: routing,
        channels=["slack"],
        on_added=lambda: None,
    )
    records = [
        ConsumerRecord("t", 0, offset, 0, 0, b"initech", orjson.dumps(event), None, 0, 0, [])
        for offset, event in enumerate((single, left))
    ]
    await processor.process({TopicPartition("t", 0): records}, OffsetMoves("g"))
    [muted] = await rows(engine, single["dedup_key"])
    assert (muted["status"], muted["last_error"]) == (
        "silenced",
        f"inhibited by {left['dedup_key']}, firing",
    )
    [sent] = await rows(engine, left["dedup_key"])
    assert sent["status"] == "pending"
