"""AccountPulse's services (`pulse up`, `ingest`, `scoring`, `alerts`, `api`) as real child
processes, configured through PULSE_ variables the way a user configures them, for end-to-end
tests; `pulse` commands run to completion; readiness and bearer headers for their API."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness import processes
from harness.waiting import wait_for
from shared.config import Topics
from shared.kafka import free_port

# The commands that serve the HTTP API, with /readyz and /metrics; ingest and alerts serve
# only /metrics, on PULSE_METRICS_PORT.
API_COMMANDS = ("up", "scoring", "api")


def pulse_env(
    *, bootstrap: str, database_url: str, topics: Topics, group_prefix: str, **extra: str
) -> dict[str, str]:
    """A child's environment: none of the caller's PULSE_ variables, these settings, and
    grouping and polling short so tests run in seconds (and Slack unpaced: tests send a
    burst to one CSM; test_pace.py tests the pacing)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    fast = {
        "PULSE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "PULSE_BATCH_MAX_WAIT_MS": "50",
        "PULSE_DELIVERY_POLL_SECONDS": "0.1",
        "PULSE_SLACK_CHANNEL_INTERVAL_SECONDS": "0",
    }
    return processes.pulse_env(
        environ,
        bootstrap=bootstrap,
        database_url=database_url,
        topics=topics,
        group_prefix=group_prefix,
        partitions=4,
        replication_factor=1,
        api_port=free_port(),
        log_level=None,
        extra={**fast, **extra},
    )


class PulseProcess:
    """`pulse <command>` as a child process, its output in a temporary file. `url` is the API
    (up, scoring, api) or, for ingest and alerts, a metrics port of its own."""

    def __init__(
        self, env: dict[str, str], command: str = "up", *flags: str, session: bool = False
    ) -> None:
        """`session`: in a process group of its own, as a terminal starts a command (its
        Ctrl+C signals the whole group: see interrupt)."""
        serves_api = command in API_COMMANDS and "--no-api" not in flags
        if not serves_api:
            env = {**env, "PULSE_METRICS_PORT": str(free_port())}
        port = env["PULSE_API_PORT" if serves_api else "PULSE_METRICS_PORT"]
        self.command = command
        self.serves_api = serves_api
        self.env = env
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(
            prefix=f"pulse-{command}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [*processes.pulse_command(command), *flags],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=session,
        )

    def interrupt(self) -> None:
        """Ctrl+C in the terminal: SIGINT to the process and everything in its group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def output(self) -> str:
        with open(self.log.name, errors="replace") as handle:
            return handle.read()

    async def _get(self, path: str) -> httpx.Response | None:
        """GET from the process's port; None while nothing answers there yet."""
        if self.process.poll() is not None:
            raise AssertionError(f"pulse {self.command} exited:\n{self.output()[-3000:]}")
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=15) as client:
                return await client.get(path)
        except httpx.TransportError:
            return None

    async def is_ready(self) -> bool:
        """The API commands: /readyz says 200 (up's and scoring's consumers have their
        partitions). ingest and alerts have no readiness endpoint: their metrics port answers
        (ingest has its topics, alerts its database) and alerts has logged its partitions."""
        if self.serves_api:
            response = await self._get("/readyz")
            return response is not None and response.status_code == 200
        response = await self._get("/metrics")
        if response is None or response.status_code != 200:
            return False
        if self.command == "scoring":  # without its API: once it has its partitions
            return "scoring: assigned" in self.output()
        return self.command != "alerts" or "alerts: assigned" in self.output()

    async def ready(self, timeout: float = 60) -> None:
        await wait_for(self.is_ready, timeout=timeout, what=f"pulse {self.command} to be ready")

    async def metric(self, name: str) -> float:
        """The sum of a metric's samples over every label (0 while not served yet)."""
        response = await self._get("/metrics")
        if response is None or response.status_code != 200:
            return 0.0
        return sum(
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == name
        )

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
            await pulse.ready()
            yield pulse, client
    except BaseException:
        print(pulse.output()[-5000:])
        raise
    finally:
        await pulse.stop(kill=kill)


async def readiness(api: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    try:
        response = await api.get("/readyz")
    except httpx.TransportError as exc:
        return 0, {"error": str(exc)}
    return response.status_code, response.json()


@dataclass
class Finished:
    """A finished `pulse` command."""

    code: int
    out: str
    err: str


async def run_pulse(*args: str, env: dict[str, str], timeout: float = 60) -> Finished:
    """`python -m services.cli ARGS` with exactly these PULSE_ variables; never blocks the
    event loop (the service under test may share it)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env={**environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user_env(folder: Path) -> dict[str, str]:
    """A new user's environment for `pulse up`: no PULSE_ variable but free ports, and the
    SQLite file in a folder of its own."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return {
        **environ,
        "PULSE_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'pulse.db'}",
        "PULSE_EMBEDDED_BROKER_PORT": str(free_port()),
        "PULSE_API_PORT": str(free_port()),
    }
