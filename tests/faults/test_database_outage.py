"""PostgreSQL unreachable for ~25 s in the middle of a stream (a TCP proxy in front of it is
cut): scoring and alerts pause and retry, /readyz says why, no offset is stored past the
effects it covers, and everything resumes by itself once the database is back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.engine import make_url

from harness.waiting import wait_for
from shared.kafka import free_port
from tests.helpers.fault_checks import assert_same
from tests.helpers.fault_runs import PARTITIONS, Run, stored_offsets
from tests.helpers.fault_workload import SMALL
from tests.helpers.processes import PulseProcess, readiness
from tests.helpers.proxies import Proxy

OUTAGE_SECONDS = 25.0
CUT_AT_STEP = 8


async def kafka_committed(bootstrap: str, group_id: str, topic: str) -> dict[tuple[str, int], int]:
    """The group's offsets committed to Kafka (an OffsetFetch; this consumer joins nothing)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        found = {}
        for partition in range(PARTITIONS):
            offset = await consumer.committed(TopicPartition(topic, partition))
            if offset is not None:
                found[(topic, partition)] = offset
        return found
    finally:
        await consumer.stop()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_database_outage_pauses_reports_and_resumes_without_loss(
    clean_small: dict[str, Any], run: Run
) -> None:
    proxy = Proxy(free_port(), make_url(run.database_url).port or 5432)
    await proxy.start()
    proxied = make_url(run.database_url).set(host="127.0.0.1", port=proxy.port)
    env = run.env(PULSE_DATABASE_URL=proxied.render_as_string(hide_password=False))
    scoring_group = f"{run.group_prefix}-scoring"
    seen: dict[str, Any] = {}

    async def outage(api: httpx.AsyncClient) -> None:
        proxy.cut()
        cut_at = time.monotonic()

        async def not_ready() -> dict[str, Any] | None:
            # Alerts' poller may notice first; wait until scoring, whose writes fail on the
            # streamed events, reports too.
            status, body = await readiness(api)
            return body if status == 503 and "scoring" in body.get("problems", {}) else None

        seen["problems"] = (await wait_for(not_ready, timeout=20, what="/readyz 503"))["problems"]
        seen["to_503"] = time.monotonic() - cut_at
        # Read once scoring's writes fail: a commit under way at the cut may still land.
        before = await stored_offsets(run.engine, scoring_group)
        while time.monotonic() - cut_at < OUTAGE_SECONDS:
            # Nothing reaches the database, and Kafka's commits never pass what it holds.
            assert await stored_offsets(run.engine, scoring_group) == before
            committed = await kafka_committed(run.bootstrap, scoring_group, run.topics.signals)
            ahead = {k: v for k, v in committed.items() if v > before.get(k, 0)}
            assert not ahead, f"kafka commits ahead of the stored offsets: {ahead} > {before}"
            await asyncio.sleep(1.0)
        proxy.restore()
        restored = time.monotonic()

        async def ready() -> bool:
            return (await readiness(api))[0] == 200

        await wait_for(ready, timeout=60, what="/readyz 200 after the database came back")
        seen["back_to_200"] = time.monotonic() - restored

    pulse = PulseProcess(env)
    async with httpx.AsyncClient(base_url=pulse.url, timeout=15) as api:
        try:
            await pulse.ready()
            outage_task: asyncio.Task[None] | None = None

            async def cut(step: int) -> None:
                nonlocal outage_task
                if step == CUT_AT_STEP:
                    outage_task = asyncio.create_task(outage(api))

            await run.drive(SMALL, after_send=cut)
            assert outage_task is not None
            await outage_task
            await run.settle()
            result = await run.snapshot(api, SMALL)
            assert pulse.process.poll() is None, "pulse up exited instead of waiting"
        except BaseException:
            print(pulse.output()[-5000:])
            raise
        finally:
            await pulse.stop()
            await proxy.stop()
    print(f"database outage: {seen}")
    problems = seen["problems"]
    assert "scoring" in problems, problems
    assert "connect" in problems["scoring"].lower(), problems["scoring"]
    assert_same(result, clean_small, SMALL)
    log = pulse.output()
    assert "batch failed" in log
