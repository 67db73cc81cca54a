"""Concurrent GET /v1/accounts/{id}/health load, run as its own process.

Its own process because 32 busy HTTP clients would otherwise share the benchmark's event
loop with the rated producer and the probes, and delay exactly the timestamps the latency
figures are made of.

    python -c "from services.bench.health_load import main; main()" --url URL --accounts N \
        --seconds S --out FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass

import httpx

from services.bench.stats import percentile, rate
from services.bench.workload import account_id


@dataclass(frozen=True)
class HealthLoad:
    concurrency: int
    seconds: float
    requests: int  # answered 200
    errors: int  # anything else, including transport errors
    requests_per_second: float
    p50_ms: float
    p99_ms: float


async def run_load(
    url: str, accounts: int, *, seconds: float, concurrency: int, seed: int
) -> HealthLoad:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def worker(rng: random.Random) -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                path = f"/v1/accounts/{account_id(rng.randrange(accounts))}/health"
                sent = time.monotonic()
                try:
                    ok = (await client.get(path)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.monotonic() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(worker(random.Random(seed + n)) for n in range(concurrency)))
        took = time.monotonic() - started
    return HealthLoad(
        concurrency=concurrency,
        seconds=round(took, 3),
        requests=len(latencies),
        errors=errors,
        requests_per_second=rate(len(latencies), took),
        p50_ms=round(percentile(latencies, 50) * 1000, 2) if latencies else 0.0,
        p99_ms=round(percentile(latencies, 99) * 1000, 2) if latencies else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    load = run_load(
        args.url,
        args.accounts,
        seconds=args.seconds,
        concurrency=args.concurrency,
        seed=args.seed,
    )
    try:
        import uvloop

        result = uvloop.run(load)
    except ImportError:
        result = asyncio.run(load)
    with open(args.out, "w") as handle:
        json.dump(asdict(result), handle)


if __name__ == "__main__":
    main()
