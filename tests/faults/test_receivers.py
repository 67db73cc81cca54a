"""Slack and SMTP failing: deliveries are retried with growing backoff, stay pending across a
kill -9 of `pulse up`, and go out exactly once after the restart."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from harness.waiting import wait_for
from services.alerts.tables import deliveries
from tests.helpers.fault_runs import Run
from tests.helpers.processes import PulseProcess

ACCOUNT = {
    "account_id": "spiky",
    "name": "Spiky Ltd",
    "csm": {"name": "Sam", "email": "sam@vendor.example", "slack": "USAM"},
    "plan": {"period": "month", "limits": {"api_calls": 1000}},
}
SPIKE = {
    "event_id": "spike-1",
    "account_id": "spiky",
    "occurred_at": "2026-10-20T10:00:00Z",
    "metric": "api_calls",
    "value": 900,
}
KEY = "spiky:plan_limit_80:api_calls:2026-10"


async def rows(run: Run) -> dict[str, Any]:
    async with run.engine.connect() as conn:
        found = await conn.execute(select(deliveries))
        return {row.channel: row for row in found}


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_failing_receivers_are_retried_with_backoff_and_survive_a_kill(run: Run) -> None:
    run.slack.fail_next(1000, status=500)
    run.smtp.refuse_next(1000)
    env = run.env()
    pulse = PulseProcess(env)
    async with httpx.AsyncClient(base_url=pulse.url, timeout=15) as api:
        try:
            await pulse.ready()
            producer = AIOKafkaProducer(bootstrap_servers=run.bootstrap, acks="all")
            await producer.start()
            try:
                await producer.send_and_wait(
                    run.topics.accounts, orjson.dumps(ACCOUNT), key=b"spiky"
                )
                await producer.send_and_wait(
                    run.topics.product_usage, orjson.dumps(SPIKE), key=b"spiky"
                )
            finally:
                await producer.stop()

            async def retried() -> dict[str, Any] | None:
                found = await rows(run)
                ok = len(found) == 2 and all(r.attempts >= 4 for r in found.values())
                # A claimed attempt counts before it reaches Slack (a retry looks the message
                # up first): wait for the posts themselves too.
                ok = ok and len(run.slack.requests) >= 4
                return found if ok else None

            pending = await wait_for(retried, timeout=60, what="four attempts per channel")
            for channel, row in pending.items():
                assert row.status == "pending", (channel, row.status)
                assert row.dedup_key == KEY
            assert "500" in pending["slack"].last_error
            assert "451" in pending["email"].last_error
            # Exponential backoff: the gaps between Slack attempts grow.
            times = [r.at for r in run.slack.requests]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert gaps[2] > gaps[0] * 1.5, gaps
            metrics = (await api.get("/metrics")).text
            assert 'pulse_alert_deliveries_total{channel="slack",outcome="retry"}' in metrics
            ready = await api.get("/readyz")
            assert ready.status_code == 503, ready.text
            problem = ready.json()["problems"]["alerts-delivery"]
            assert "slack:" in problem and "email:" in problem, problem

            await pulse.stop(kill=True)
            failed_attempts = len(run.slack.requests)
            with run.slack._lock:  # the receivers recover while pulse is down
                run.slack._failures.clear()
            with run.smtp._lock:
                run.smtp._refusals = 0
            restarted = time.monotonic()
            pulse = PulseProcess(env)
            await pulse.ready()

            async def delivered() -> bool:
                found = await rows(run)
                return all(r.status == "delivered" for r in found.values())

            await wait_for(delivered, timeout=60, what="both deliveries after the restart")
            await asyncio.sleep(3)  # time for a second send, which must not come
            [posted] = run.slack.posted()
            assert posted.at > restarted
            assert posted.body["metadata"]["event_payload"]["dedup_key"] == KEY
            assert len(run.slack.requests) == failed_attempts + 1
            [mail] = run.smtp.messages
            assert mail.message["X-Pulse-Dedup-Key"] == KEY
            metrics = (await api.get("/metrics")).text
            assert (
                'pulse_alert_deliveries_total{channel="slack",outcome="delivered"} 1.0' in metrics
            )
        except BaseException:
            print(pulse.output()[-5000:])
            raise
        finally:
            await pulse.stop()
