"""An episode's end goes out again as resolved: the firing's trigger_id, dedup_key and
details, status resolved and resolved_at, through the outbox, once (real broker and
PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import at, usage
from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring.tables import triggers
from shared.clock import iso
from shared.kafka import EmbeddedBroker
from tests.helpers.in_process import scoring

KEY = "acme:plan_limit_80:storage_gb:2026-09"


async def test_an_episode_that_ends_is_published_resolved_once(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any, broker: EmbeddedBroker
) -> None:
    async with scoring(scoring_settings, engine) as api:
        put = await api.put("/v1/accounts/acme", json={"plan": {"limits": {"storage_gb": 100}}})
        assert put.status_code == 200, put.text
        readings = [(0, 85), (1, 60), (2, 50)]  # fires at 85%, ends below 70%, stays under
        await send(
            *(usage("acme", d, metric="storage_gb", value=v, mode="absolute") for d, v in readings)
        )

        async def settled() -> bool:
            account = (await api.get("/v1/accounts/acme")).json()
            if account["usage"]["storage_gb"]["used"] != 50:
                return False
            async with engine.connect() as conn:
                row = (
                    await conn.execute(select(triggers).where(triggers.c.dedup_key == KEY))
                ).one_or_none()
            return row is not None and bool(row.published) and bool(row.resolved_published)

        await wait_for(settled, what="the last reading applied and the outbox relayed")
        health = (await api.get("/v1/accounts/acme/health")).json()
        assert health["active_triggers"] == []
        events = [e for e in await _whole_topic(scoring_settings, broker) if e["dedup_key"] == KEY]
        assert [e["status"] for e in events] == ["firing", "resolved"]
        firing, resolved = events
        assert resolved["trigger_id"] == firing["trigger_id"]
        assert resolved["resolved_at"] == iso(at(1))  # the reading that ended it
        assert resolved["details"] == firing["details"]  # the same trigger, again
        assert resolved["details"]["used"] == 85
        explained = (await api.get(f"/v1/triggers/{firing['trigger_id']}")).json()
        assert explained["status"] == "resolved" and explained["resolved_at"] == iso(at(1))


async def _whole_topic(settings: UpSettings, broker: EmbeddedBroker) -> list[dict[str, Any]]:
    """Every event on cs.triggers, read to its end offsets."""
    topic = settings.topics.triggers
    parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
    # earliest: assign()'s own reset may answer after seek_to_beginning's, and win.
    reader = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        reader.assign(parts)
        await reader.seek_to_beginning(*parts)
        ends = await reader.end_offsets(parts)
        events: list[dict[str, Any]] = []
        read = dict.fromkeys(parts, 0)
        while any(read[tp] < end for tp, end in ends.items()):
            batch = await reader.getmany(timeout_ms=200)
            for tp, records in batch.items():
                events += [orjson.loads(r.value) for r in records]
                read[tp] = records[-1].offset + 1
        return events
    finally:
        await reader.stop()
