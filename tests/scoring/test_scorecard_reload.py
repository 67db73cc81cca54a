"""A running `pulse up` picks up a changed scorecard without a restart, and keeps the one in use
when the new file is invalid, saying so in /readyz and its metric."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from harness.waiting import wait_for
from services.scoring.scorecard.loading import load
from shared.clock import iso, utcnow
from tests.helpers.processes import PulseProcess, new_user_env

FIRES_AT_90 = "rules:\n  plan_limit_80: {fire_ratio: 0.9, rearm_ratio: 0.8}\n"
FIRES_AT_50 = "rules:\n  plan_limit_80: {fire_ratio: 0.5, rearm_ratio: 0.4}\n"
PLAN = {"name": "Acme", "plan": {"name": "Growth", "limits": {"api_calls": 100}}}


async def _use(env: dict[str, str], calls: float) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=f"127.0.0.1:{env['PULSE_EMBEDDED_BROKER_PORT']}", acks="all"
    )
    await producer.start()
    try:
        event = {
            "event_id": str(uuid.uuid4()),
            "account_id": "acme",
            "occurred_at": iso(utcnow()),
            "metric": "api_calls",
            "value": calls,
        }
        await producer.send_and_wait("cs.product-usage", orjson.dumps(event), key=b"acme")
    finally:
        await producer.stop()


async def _metric(api: httpx.AsyncClient, outcome: str) -> float:
    line = f'pulse_scorecard_reloads_total{{outcome="{outcome}"}} '
    for text in (await api.get("/metrics")).text.splitlines():
        if text.startswith(line):
            return float(text[len(line) :])
    return 0.0


async def test_a_changed_scorecard_applies_to_the_next_evaluation_without_a_restart(
    tmp_path: Path,
) -> None:
    card = tmp_path / "scorecard.yaml"
    card.write_text(FIRES_AT_90)
    first = load(card).version
    env = {**new_user_env(tmp_path), "PULSE_SCORECARD": str(card)}
    pulse = PulseProcess(env)
    try:
        await pulse.ready()
        async with httpx.AsyncClient(base_url=pulse.url, timeout=10) as api:
            assert (await api.put("/v1/accounts/acme", json=PLAN)).status_code == 200
            health = (await api.get("/v1/accounts/acme/health")).json()
            assert health["scorecard_version"] == first

            await _use(env, 60)  # 60% of the limit: nothing at 90%

            async def used_60() -> bool:
                account = (await api.get("/v1/accounts/acme")).json()
                return bool(account["usage"]["api_calls"]["used"] == 60)

            await wait_for(used_60, what="the usage applied")
            assert (await api.get("/v1/triggers")).json()["triggers"] == []

            card.write_text(FIRES_AT_50)
            second = load(card).version
            await wait_for(lambda: _metric(api, "loaded"), what="the reload")
            await _use(env, 1)  # the next evaluation: 61% of the limit, over 50%

            async def fired() -> list[dict[str, object]]:
                return list((await api.get("/v1/triggers")).json()["triggers"])

            [trigger] = await wait_for(fired, what="plan_limit_80 at 50%")
            assert trigger["type"] == "plan_limit_80"
            assert trigger["scorecard_version"] == second
            health = (await api.get("/v1/accounts/acme/health")).json()
            assert health["scorecard_version"] == second

            card.write_text("rules:\n  plan_limit_80: {fire_ratio: lots}\n")
            await wait_for(lambda: _metric(api, "invalid"), what="the invalid file noticed")
            ready = (await api.get("/readyz")).json()
            assert ready["status"] == "ready"
            notice = ready["notices"]["scorecard"]
            assert f"still using version {second}" in notice
            assert "rules.plan_limit_80.fire_ratio" in notice and ":2:" in notice
            assert (await api.put("/v1/accounts/acme", json=PLAN)).status_code == 200
            health = (await api.get("/v1/accounts/acme/health")).json()
            assert health["scorecard_version"] == second
    except BaseException:
        print(pulse.output()[-4000:])
        raise
    finally:
        await pulse.stop()
