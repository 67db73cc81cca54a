"""By hand: how long the portfolio page (GET /ui, 50 rows) takes `pulse api` to answer for a
portfolio of N accounts. Not a test and not run by CI; the figures go in docs/performance.md.

    python -m bench.tools.pages --accounts 10000 --requests 200

Stores N accounts (as bench.tools.load does) in a fresh database, gives each an account
record (20 CSMs, three tiers and segments, ARR, a renewal date) and 15 health points over the
last 30 days for its sparkline, starts `pulse api` on it, and times sequential requests of one
keep-alive client for the first page, a page deep in the list, and a CSM's filtered view, in
two rounds: the first, just after start, is reported apart (first_round), the second as pages.
Reports p50, p99 and max in ms, and the API process's CPU time per page of the second round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson

from bench.stats import percentile
from bench.tools.api import PG_ADMIN_DSN, cpu_seconds, until_ready
from bench.tools.load import populate
from shared.kafka import EmbeddedBroker, free_port

CSMS = 20
POINTS = 15  # health points per account in the sparkline's 30 days
SEGMENTS = ("enterprise", "mid-market", "smb")


def profile(i: int, rng: random.Random) -> str:
    csm = i % CSMS
    return orjson.dumps(
        {
            "account_id": f"acct-{i:07d}",
            "name": f"Account {i}",
            "tier": 1 + i % 3,
            "segment": SEGMENTS[i % len(SEGMENTS)],
            "arr": rng.randrange(10, 500) * 1000,
            "csm": {"name": f"CSM {csm}", "email": f"csm{csm}@vendor.example"},
            "plan": {"name": "Growth", "period": "month", "limits": {"api_calls": 100000}},
            "renewal_date": (date.today() + timedelta(days=rng.randrange(1, 365))).isoformat(),
        }
    ).decode()


async def add_profiles_and_history(url: str, accounts: int) -> None:
    rng = random.Random(2)
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    now = datetime.now(UTC)
    try:
        await connection.executemany(
            "UPDATE accounts SET profile = $2 WHERE account_id = $1",
            [(f"acct-{i:07d}", profile(i, rng)) for i in range(accounts)],
        )
        points = [
            (
                f"acct-{i:07d}",
                now - timedelta(days=30 * (POINTS - n) / POINTS),
                rng.randrange(0, 101),
                "green",
                "{}",
                "tick",
                None,
            )
            for i in range(accounts)
            for n in range(POINTS)
        ]
        await connection.copy_records_to_table(
            "health_history",
            records=points,
            columns=["account_id", "at", "score", "band", "components", "cause_kind", "cause"],
        )
        await connection.execute("VACUUM ANALYZE")  # as autovacuum would after the load
    finally:
        await connection.close()


async def timed(client: httpx.AsyncClient, path: str, requests: int) -> dict[str, Any]:
    latencies = []
    for _ in range(requests):
        sent = time.perf_counter()
        response = await client.get(path)
        latencies.append(time.perf_counter() - sent)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
    rows = response.text.count("<tr data-account=")
    ms = sorted(latency * 1000 for latency in latencies)
    return {
        "path": path,
        "rows": rows,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(ms[-1], 1),
    }


async def main(accounts: int, requests: int) -> None:
    name = f"pulse_bench_pages_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    database_url = f"{base}/{name}"
    port = free_port()
    api = None
    broker = EmbeddedBroker()  # `pulse api` needs one for its writes; pages only read
    await broker.start()
    try:
        await populate(database_url, accounts)
        await add_profiles_and_history(database_url, accounts)
        env = {
            **os.environ,
            "PULSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "PULSE_DATABASE_URL": database_url,
            "PULSE_API_PORT": str(port),
            "PULSE_LOG_LEVEL": "WARNING",
        }
        api = subprocess.Popen([sys.executable, "-m", "services.cli", "api"], env=env)
        url = f"http://127.0.0.1:{port}"
        await until_ready(url)
        paths = ["/ui", f"/ui?page={accounts // 100}", "/ui?csm=csm7%40vendor.example&tier=2"]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            # Warm: connections, statement caches, the listing; the first seconds after the
            # listing's load also have slow outliers (docs/performance.md), reported apart.
            cold = [await timed(client, path, requests) for path in paths]
            before = cpu_seconds(api.pid)
            results = [await timed(client, path, requests) for path in paths]
            spent = cpu_seconds(api.pid) - before
        print(
            json.dumps(
                {
                    "accounts": accounts,
                    "requests_per_path": requests,
                    "pages": results,
                    "first_round": cold,
                    "api_cpu_ms_per_page": round(spent * 1000 / (requests * len(paths)), 1),
                },
                indent=2,
            )
        )
    finally:
        if api is not None:
            api.terminate()
            api.wait()
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.requests))
