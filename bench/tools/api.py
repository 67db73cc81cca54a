"""By hand: what one GET /v1/accounts/{id}/health costs `pulse api`, with nothing else
running. Not a test and not run by CI (`pulse bench` measures the API under the rated load).

    python -m bench.tools.api --accounts 10000 --seconds 15 [--profile api.txt]

Stores N accounts (as bench.tools.load does) in a fresh database, starts `pulse api`
on it, loads it with the benchmark's own health load (32 keep-alive clients, its own process)
and reports requests/s, p50 and p99, and the API process's CPU time per answered request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import httpx

from bench.tools.load import populate
from harness.database import admin_dsn
from shared.kafka import EmbeddedBroker, free_port

PG_ADMIN_DSN = admin_dsn(None, "PULSE_TEST_PG_DSN")

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def until_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("pulse api did not start")


@asynccontextmanager
async def api_on(
    accounts: int, prepare: Callable[[str, int], Awaitable[None]] | None = None
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`pulse api` (its URL and process) on a fresh database of N stored accounts, which
    `prepare(database_url, accounts)` may add to first; all of it gone at the end."""
    name = f"pulse_bench_api_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    database_url = f"{base}/{name}"
    port = free_port()
    api = None
    broker = EmbeddedBroker()  # the API's writes need one; this load only reads
    await broker.start()
    try:
        await populate(database_url, accounts)
        if prepare is not None:
            await prepare(database_url, accounts)
        env = {
            **os.environ,
            "PULSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "PULSE_DATABASE_URL": database_url,
            "PULSE_API_PORT": str(port),
            "PULSE_API_RATE_PER_SECOND": "0",
            "PULSE_LOG_LEVEL": "WARNING",
        }
        api = subprocess.Popen([sys.executable, "-m", "services.cli", "api"], env=env)
        url = f"http://127.0.0.1:{port}"
        await until_ready(url)
        yield url, api
    finally:
        if api is not None:
            api.terminate()
            api.wait()
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(accounts: int, seconds: float, concurrency: int, profile: str | None) -> None:
    async with api_on(accounts) as (url, api):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            load = [
                sys.executable,
                "-c",
                "from bench.health_load import main; main()",
                *("--url", url, "--accounts", str(accounts), "--seconds", str(seconds)),
                *("--concurrency", str(concurrency), "--out", out.name),
            ]
            spy = None
            if profile:  # py-spy's raw (collapsed) stacks of the API, for the first 10 s
                record = ["py-spy", "record", "-r", "100", "-d", "10", "-f", "raw"]
                spy = subprocess.Popen([*record, "-o", profile, "-p", str(api.pid)])
            before = cpu_seconds(api.pid)
            await asyncio.to_thread(subprocess.run, load, check=True)
            spent = cpu_seconds(api.pid) - before
            if spy is not None:
                spy.wait()
            result = json.load(out)
        result["api_cpu_ms_per_request"] = round(spent * 1000 / max(1, result["requests"]), 3)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", metavar="FILE", help="py-spy raw stacks of the API")
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.seconds, args.concurrency, args.profile))
