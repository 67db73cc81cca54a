"""Concurrent GET /v1/accounts/{id}/health load, run as its own process.

Its own process because 32 busy HTTP clients would otherwise share the benchmark's event
loop with the rated producer and the probes, and delay exactly the timestamps the latency
figures are made of.

    python -c "from bench.health_load import main; main()" --url URL --accounts N \
        --seconds S --out FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bench.stats import percentile, rate
from bench.workload import account_id
from shared import eventloop


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
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    started = time.monotonic()
    deadline = started + seconds

    async def worker(rng: random.Random) -> None:
        nonlocal errors
        connection: KeepAlive | None = None
        while time.monotonic() < deadline:
            path = f"/v1/accounts/{account_id(rng.randrange(accounts))}/health"
            sent = time.monotonic()
            try:
                async with asyncio.timeout(10.0):
                    connection = connection or await KeepAlive.open(host, port)
                    ok = await connection.get(path) == 200
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                ok, connection = False, None
            if ok:
                latencies.append(time.monotonic() - sent)
            else:
                errors += 1
        if connection is not None:
            connection.close()

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


class KeepAlive:
    """One keep-alive HTTP/1.1 connection that sends GETs: just enough client for the load to
    measure the API rather than itself. (httpx spent about 3.8 ms of CPU per request here,
    twice what the API spends answering it, and capped the load at one busy core.)"""

    def __init__(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.host = host
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> KeepAlive:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(host, reader, writer)

    async def get(self, path: str) -> int:
        """The answer's status; its body is read and dropped."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *fields = head.split("\r\n")
        headers = dict(f.split(":", 1) for f in fields if ":" in f)
        lengths = [v for k, v in headers.items() if k.strip().lower() == "content-length"]
        if not lengths:  # uvicorn sizes every answer of this API; anything else is an error
            raise ValueError(f"no Content-Length in {status_line!r}")
        await self.reader.readexactly(int(lengths[0]))
        return int(status_line.split(" ", 2)[1])

    def close(self) -> None:
        self.writer.close()


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
    result = eventloop.run(load)
    with open(args.out, "w") as handle:
        json.dump(asdict(result), handle)


if __name__ == "__main__":
    main()
