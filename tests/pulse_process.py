"""`pulse up` as a real child process, configured through PULSE_ variables the way a user
configures it, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shared.config import Topics
from shared.kafka import free_port
from tests.conftest import wait_for


def pulse_env(
    *, bootstrap: str, database_url: str, topics: Topics, group_prefix: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(
        PULSE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        PULSE_DATABASE_URL=database_url,
        PULSE_CONSUMER_GROUP_PREFIX=group_prefix,
        PULSE_TOPIC_PARTITIONS="4",
        PULSE_KAFKA_SESSION_TIMEOUT_MS="6000",
        PULSE_BATCH_MAX_WAIT_MS="50",
        PULSE_DELIVERY_POLL_SECONDS="0.1",
        PULSE_API_PORT=str(free_port()),
        **{f"PULSE_TOPIC_{name.upper()}": getattr(topics, name) for name in Topics.model_fields},
    )
    env.update(extra)
    return env


class PulseProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['PULSE_API_PORT']}"
        self.log = tempfile.NamedTemporaryFile(prefix="pulse-up-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def output(self) -> str:
        with open(self.log.name, errors="replace") as handle:
            return handle.read()

    async def ready(self, client: httpx.AsyncClient) -> None:
        async def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"pulse up exited:\n{self.output()[-3000:]}")
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(answers, timeout=60, what="pulse up to be ready")

    async def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            for _ in range(300):
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                self.process.kill()
        self.process.wait()


@asynccontextmanager
async def pulse_up(
    env: dict[str, str], *, kill: bool = False
) -> AsyncIterator[tuple[PulseProcess, httpx.AsyncClient]]:
    pulse = PulseProcess(env)
    try:
        async with httpx.AsyncClient(base_url=pulse.url, timeout=15) as client:
            await pulse.ready(client)
            yield pulse, client
    except BaseException:
        print(pulse.output()[-5000:])
        raise
    finally:
        await pulse.stop(kill=kill)
