"""Phase 5, memory: scoring's peak RSS, its memory per account, and its restart-to-ready
time (measured with the throughput of `pulse ingest` + `pulse scoring`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench.phases.common import READY_TIMEOUT, SETTLE_SECONDS, Context, now, phase_topics
from bench.phases.throughput import Plan, Throughput, backlog_run, measured_throughput
from bench.processes import Children, stop, wait_ready
from bench.workload import Workload
from harness.database import fresh_database
from harness.processes import pulse_command
from shared.kafka import free_port


@dataclass
class Memory:
    accounts_loaded: int  # rows in the accounts table the restarted scoring loaded
    peak_rss_bytes: int  # VmHWM of scoring while it worked off the backlog
    rss_loaded_bytes: int  # VmRSS of a restarted scoring, ready, every account loaded
    rss_empty_bytes: int  # VmRSS of a scoring process with no account, ready
    # None when the accounts grew the process by less than MEASURABLE_GROWTH (a --quick run)
    bytes_per_account: float | None
    restart_to_ready_seconds: float  # restarted on the populated database
    # The same for a scoring process with nothing to load: the fixed part of a start
    # (imports, migrations, joining the consumer group).
    empty_start_to_ready_seconds: float


# Two scoring processes' resident sizes differ by a few MiB whatever they hold (allocator and
# import noise): a smaller difference says nothing per account.
MEASURABLE_GROWTH = 8 * 2**20


def per_account(grown: int, accounts: int) -> float | None:
    if accounts == 0 or grown < MEASURABLE_GROWTH:
        return None
    return round(grown / accounts, 1)


async def measure_split(ctx: Context, workload: Workload) -> tuple[Throughput, Memory]:
    """`pulse ingest` and `pulse scoring` as two processes; then scoring restarted on the
    populated database (time to ready, RSS with every account), and an empty one."""
    started_at = now()
    messages = workload.messages
    plan: Plan = [("pulse ingest", "ingest", {}), ("pulse scoring", "scoring", {})]
    async with backlog_run(ctx, messages, "split", plan) as run:
        scoring = run.processes[1]
        result = await measured_throughput(run, scoring, len(messages), started_at)
        stop(*run.processes)
        restarted_ready, loaded = await _ready_scoring(ctx, run.children, run.env, "restarted")
        accounts = await run.progress.scalar("SELECT count(*) FROM accounts")
    empty_ready, empty = await _empty_scoring(ctx)
    memory = Memory(
        accounts_loaded=accounts,
        peak_rss_bytes=result.peak_rss_bytes,
        rss_loaded_bytes=loaded,
        rss_empty_bytes=empty,
        bytes_per_account=per_account(loaded - empty, accounts),
        restart_to_ready_seconds=round(restarted_ready, 3),
        empty_start_to_ready_seconds=round(empty_ready, 3),
    )
    return result, memory


async def _ready_scoring(
    ctx: Context, children: Children, env: dict[str, str], label: str
) -> tuple[float, int]:
    """Start scoring, wait for /readyz 200; (seconds to ready, VmRSS once settled)."""
    port = free_port()
    child = children.start(
        f"pulse scoring ({label})", pulse_command("scoring"), {**env, "PULSE_API_PORT": str(port)}
    )
    ready = await wait_ready(child, f"http://127.0.0.1:{port}", timeout=READY_TIMEOUT)
    await asyncio.sleep(SETTLE_SECONDS)
    child.check_alive("settling after start-up")
    rss = child.memory().rss_bytes
    stop(child)
    return ready, rss


async def _empty_scoring(ctx: Context) -> tuple[float, int]:
    fresh = ctx.fresh("empty")
    async with (
        fresh_database(ctx.admin, fresh.database) as url,
        phase_topics(ctx, fresh),
    ):
        with Children(ctx.log_dir) as children:
            return await _ready_scoring(ctx, children, ctx.env(fresh, url, 0), "empty")
