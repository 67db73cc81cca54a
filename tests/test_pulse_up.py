"""`pulse up` on its defaults, as a new user runs it: the embedded broker and a SQLite file in
the working folder; stopped with Ctrl+C and started again in the same folder."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from harness.waiting import wait_for
from shared.clock import iso, utcnow
from tests.helpers.processes import PulseProcess, new_user_env

API_CALLS = 10.0  # per usage event


async def stop_with_ctrl_c(pulse: PulseProcess) -> int:
    pulse.interrupt()
    return await asyncio.to_thread(pulse.process.wait, 60)


async def send_usage(env: dict[str, str], counts: dict[str, int], at: str) -> None:
    """`count` api_calls events of API_CALLS each, per account, to cs.product-usage."""
    producer = AIOKafkaProducer(
        bootstrap_servers=f"127.0.0.1:{env['PULSE_EMBEDDED_BROKER_PORT']}", acks="all"
    )
    await producer.start()
    try:
        for account_id, count in counts.items():
            for _ in range(count):
                event = {
                    "event_id": str(uuid.uuid4()),
                    "account_id": account_id,
                    "occurred_at": at,
                    "metric": "api_calls",
                    "value": API_CALLS,
                }
                await producer.send(
                    "cs.product-usage", orjson.dumps(event), key=account_id.encode()
                )
        await producer.flush()
    finally:
        await producer.stop()


async def api_calls_used(api: str, account_ids: list[str]) -> dict[str, float | None]:
    used: dict[str, float | None] = {}
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        for account_id in account_ids:
            response = await client.get(f"/v1/accounts/{account_id}")
            usage = response.json().get("usage", {}) if response.status_code == 200 else {}
            used[account_id] = usage.get("api_calls", {}).get("used")
    return used


async def counted(api: str, expected: dict[str, float]) -> bool:
    return await api_calls_used(api, list(expected)) == expected


async def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    pulse = PulseProcess(new_user_env(tmp_path), "up", "--demo", session=True)
    try:
        await pulse.ready()
        await wait_for(lambda: _any_account(pulse.url), timeout=60, what="the demo's accounts")
        code = await stop_with_ctrl_c(pulse)
    finally:
        await pulse.stop(kill=True)
    output = pulse.output()
    errors = [line for line in output.splitlines() if " ERROR " in line or "Traceback" in line]
    assert errors == [], output[-3000:]
    assert code == 0, output[-3000:]


async def _any_account(api: str) -> bool:
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        response = await client.get("/v1/accounts")
    return response.status_code == 200 and bool(response.json()["accounts"])


async def test_a_restart_in_the_same_folder_counts_what_comes_after(tmp_path: Path) -> None:
    env = new_user_env(tmp_path)
    at = iso(utcnow().replace(microsecond=0))
    old = [f"old-{n:02d}" for n in range(12)]
    new = [f"new-{n:02d}" for n in range(12)]

    first = PulseProcess(env, "up", session=True)
    try:
        await first.ready()
        await send_usage(env, dict.fromkeys(old, 5), at)
        before = dict.fromkeys(old, 5 * API_CALLS)
        await wait_for(lambda: counted(first.url, before), timeout=60, what="the first usage")
        assert await stop_with_ctrl_c(first) == 0, first.output()[-3000:]
    finally:
        await first.stop(kill=True)

    # The embedded broker kept nothing; the SQLite file kept every account and offset.
    second = PulseProcess(env, "up", session=True)
    try:
        await second.ready()
        await send_usage(env, {**dict.fromkeys(old, 3), **dict.fromkeys(new, 5)}, at)
        after = {**dict.fromkeys(old, 8 * API_CALLS), **dict.fromkeys(new, 5 * API_CALLS)}
        await wait_for(
            lambda: counted(second.url, after), timeout=60, what="the usage sent after a restart"
        )
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            ready = (await client.get("/readyz")).json()
    finally:
        await second.stop()
    assert ready["status"] == "ready"
    assert any("log replaced" in notice for notice in ready["notices"].values()), ready
    assert "resuming at offset 0 of the log as it is now" in second.output()
