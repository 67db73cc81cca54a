"""What every phase shares: fresh names, fresh topics, and waiting until scoring has
committed every signal.

Every phase gets fresh topic names and a fresh consumer-group prefix, and every process run
a fresh database, so no phase sees another's data or progress. Completion is read from the
database: scoring's stored offsets on the signals topic add up to the number of signals,
which is the number of input messages, since every generated message is valid. (Broker end
offsets are never used: the embedded broker reports them wrongly for multi-record batches.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.processes import Child
from bench.progress import Progress
from harness.processes import pulse_env
from harness.topics import create_topics, delete_topics, named_topics
from shared.clock import iso
from shared.config import Topics

POLL_SECONDS = 0.1  # how often the stored offsets are read: one small query
START_TIMEOUT = 180.0  # from start to the first stored offset (start-up, group join)
STALL_TIMEOUT = 120.0  # longest time without progress once records flow
READY_TIMEOUT = 180.0  # to /readyz 200; a restart loads every account first
SETTLE_SECONDS = 1.0  # after readiness, before reading RSS: let start-up garbage go


def now() -> str:
    return iso(datetime.now(UTC).replace(microsecond=0))


@dataclass(frozen=True)
class Fresh:
    """Names no earlier phase used."""

    name: str
    topics: Topics
    database: str


@dataclass
class Context:
    bootstrap: str
    admin: str
    partitions: int
    replication_factor: int
    environ: Mapping[str, str]
    log_dir: Path
    tag: str
    seed: int
    _count: int = 0

    def fresh(self, phase: str) -> Fresh:
        self._count += 1
        name = f"bench{self.tag}-{self._count}{phase}"
        return Fresh(name, named_topics(name), f"pulse_bench_{self.tag}_{self._count}_{phase}")

    def env(self, fresh: Fresh, database_url: str, api_port: int, **extra: str) -> dict[str, str]:
        return pulse_env(
            self.environ,
            bootstrap=self.bootstrap,
            database_url=database_url,
            topics=fresh.topics,
            group_prefix=fresh.name,
            partitions=self.partitions,
            replication_factor=self.replication_factor,
            api_port=api_port,
            extra=extra,
        )

    def progress(self, fresh: Fresh) -> Progress:
        return Progress(self.admin, fresh.database, f"{fresh.name}-scoring", fresh.topics.signals)


@contextlib.asynccontextmanager
async def phase_topics(ctx: Context, fresh: Fresh) -> AsyncIterator[Topics]:
    await create_topics(ctx.bootstrap, fresh.topics, ctx.partitions, ctx.replication_factor)
    try:
        yield fresh.topics
    finally:
        await delete_topics(ctx.bootstrap, fresh.topics)


@dataclass
class Completion:
    started: float  # monotonic: when the first process was started
    first_at: float  # when a stored offset was first seen
    first_value: int  # and how many signals it covered
    done_at: float


async def until_committed(
    progress: Progress, total: int, children: list[Child], *, what: str
) -> Completion:
    """Poll the stored offsets until they add up to `total`."""
    started = min(c.started for c in children)
    first: tuple[float, int] | None = None
    value, changed = 0, time.monotonic()
    while True:
        for child in children:
            child.check_alive(what)
        now_value = await progress.committed()
        now = time.monotonic()
        if now_value > total:
            raise BenchError(f"scoring committed {now_value} signals while {what}: {total} sent")
        if now_value and first is None:
            first = (now, now_value)
        if now_value == total and first is not None:
            return Completion(started, first[0], first[1], now)
        if now_value != value:
            value, changed = now_value, now
        elif now - changed > (STALL_TIMEOUT if value else START_TIMEOUT):
            raise BenchError(
                f"scoring stored no progress for {now - changed:.0f}s while {what}: "
                f"{value} of {total} signals committed; last output of "
                + "; ".join(f"{c.name}:\n{c.tail(1500)}" for c in children)
            )
        await asyncio.sleep(POLL_SECONDS)
