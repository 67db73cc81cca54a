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
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson

from bench.stats import percentile
from bench.tools.api import api_on, cpu_seconds

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
    async with api_on(accounts, add_profiles_and_history) as (url, api):
        paths = ["/ui", f"/ui?page={accounts // 100}", "/ui?csm=csm7%40vendor.example&tier=2"]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            # Warm: connections, statement caches, the listing; the first seconds after the
            # listing's load also have slow outliers (docs/performance.md), reported apart.
            cold = [await timed(client, path, requests) for path in paths]
            before = cpu_seconds(api.pid)
            results = [await timed(client, path, requests) for path in paths]
            spent = cpu_seconds(api.pid) - before
    report = {
        "accounts": accounts,
        "requests_per_path": requests,
        "pages": results,
        "first_round": cold,
        "api_cpu_ms_per_page": round(spent * 1000 / (requests * len(paths)), 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.requests))
