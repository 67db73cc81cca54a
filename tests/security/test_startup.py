"""Start-up rules, with `pulse scoring` and `pulse up` as child processes: no open API on a
non-loopback address, and metrics on their own port when asked."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring import tokens
from shared.config import Topics
from shared.kafka import EmbeddedBroker, free_port
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer, pulse_env, run_pulse


@pytest.fixture
def env(broker: EmbeddedBroker, database_url: str, topics: Topics) -> dict[str, str]:
    return pulse_env(
        bootstrap=broker.bootstrap,
        database_url=database_url,
        topics=topics,
        group_prefix=f"sec{uuid.uuid4().hex[:8]}",
    )


@asynccontextmanager
async def serving(command: str, env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """`pulse COMMAND` until the block ends; yields a client once /readyz answers 200."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        command,
        env={**environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{env['PULSE_API_PORT']}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    assert process.stderr is not None
                    raise AssertionError((await process.stderr.read()).decode()[-3000:])
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(ready, timeout=60, what=f"pulse {command}")
            yield client
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.communicate(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_a_non_loopback_bind_without_a_token_refuses_to_start(
    env: dict[str, str], engine: AsyncEngine
) -> None:
    unsafe = {**env, "PULSE_API_HOST": "0.0.0.0"}
    for run in await asyncio.gather(run_pulse("scoring", env=unsafe), run_pulse("up", env=unsafe)):
        assert run.code == 2, run.err[-3000:]
        assert "refusing to serve the API on 0.0.0.0" in run.err
        assert "pulse token create --name ops --scope write" in run.err


async def test_a_non_loopback_bind_with_a_token_starts_and_requires_it(
    env: dict[str, str], engine: AsyncEngine
) -> None:
    token = await tokens.create_token(engine, "ops", tokens.WRITE)
    unsafe = {**env, "PULSE_API_HOST": "0.0.0.0", "PULSE_API_TOKEN_CACHE_SECONDS": "1"}
    async with serving("scoring", unsafe) as api:
        assert (await api.get("/v1/accounts")).status_code == 401
        assert (await api.get("/v1/accounts", headers=bearer(token))).status_code == 200
        # Bound beyond loopback, the API stays closed even when every token is revoked.
        await tokens.revoke_token(engine, "ops")

        async def revoked() -> bool:  # within the cache window
            return (await api.get("/v1/accounts", headers=bearer(token))).status_code == 401

        await wait_for(revoked, timeout=10, what="the revocation")
        assert (await api.get("/v1/accounts")).status_code == 401


async def test_metrics_on_their_own_port(
    settings_factory: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    settings = settings_factory(api_port=free_port(), metrics_port=free_port())
    await tokens.create_token(engine, "ops", tokens.READ)
    async with scoring(settings, engine) as api:
        assert (await api.get("/metrics")).status_code == 404
        async with httpx.AsyncClient(timeout=10) as client:
            served = await client.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
        assert served.status_code == 200
        assert "pulse_scoring_signals_total" in served.text
        assert "pulse_api_rejected_total" in served.text
    with pytest.raises(httpx.TransportError):  # stopped with the service
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
