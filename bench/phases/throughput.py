"""Phase 2, throughput from a backlog to committed effects, and the naive baseline (one
transaction per event) it is compared with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bench import feed
from bench.phases.common import Completion, Context, now, phase_topics, until_committed
from bench.processes import Child, Children
from bench.progress import Progress
from bench.stats import rate
from bench.workload import Message, Workload
from harness.database import fresh_database
from harness.processes import pulse_command
from shared.kafka import free_port


@dataclass
class Throughput:
    processes: str
    messages: int  # input messages produced (the backlog)
    signals_committed: int  # what scoring's stored offsets add up to at the end
    steady_rate: float  # messages/s from the first stored offset to completion
    wall_seconds: float  # from starting the process(es) to completion, start-up included
    wall_rate: float
    first_commit_seconds: float  # start-up: from start to the first stored offset
    # The whole backlog was committed before a first offset could be seen (tiny runs): the
    # steady rate is then the wall rate.
    single_batch: bool
    peak_rss_bytes: int  # VmHWM of the process that runs scoring
    plan_limit_triggers: int  # fired and stored; at least one per crossing account
    settings: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""


Plan = list[tuple[str, str, dict[str, str]]]  # (name, pulse command, extra settings)


@dataclass
class BacklogRun:
    plan: Plan
    env: dict[str, str]
    children: Children
    processes: list[Child]
    progress: Progress
    completion: Completion


@contextlib.asynccontextmanager
async def backlog_run(
    ctx: Context,
    messages: list[Message],
    phase: str,
    plan: Plan,
) -> AsyncIterator[BacklogRun]:
    """Fresh topics and database, the backlog produced, then the (name, command, extra env)
    processes started together and waited on until every signal is committed."""
    fresh = ctx.fresh(phase)
    async with (
        fresh_database(ctx.admin, fresh.database) as url,
        phase_topics(ctx, fresh) as topics,
    ):
        await feed.produce_backlog(ctx.bootstrap, topics, messages)
        env = ctx.env(fresh, url, free_port())
        with Children(ctx.log_dir) as children:
            started = [
                children.start(name, pulse_command(command), {**env, **extra})
                for name, command, extra in plan
            ]
            async with ctx.progress(fresh) as progress:
                names = " + ".join(name for name, _, _ in plan)
                done = await until_committed(
                    progress, len(messages), started, what=f"{names} worked off the backlog"
                )
                yield BacklogRun(plan, env, children, started, progress, done)


async def measured_throughput(
    run: BacklogRun, scoring: Child, total: int, started_at: str
) -> Throughput:
    done = run.completion
    single = done.first_value >= total
    steady_seconds = done.done_at - (done.started if single else done.first_at)
    steady_count = total if single else total - done.first_value
    return Throughput(
        processes=" + ".join(c.name for c in run.processes),
        messages=total,
        signals_committed=await run.progress.committed(),
        steady_rate=rate(steady_count, steady_seconds),
        wall_seconds=round(done.done_at - done.started, 3),
        wall_rate=rate(total, done.done_at - done.started),
        first_commit_seconds=round(done.first_at - done.started, 3),
        single_batch=single,
        peak_rss_bytes=scoring.memory().hwm_bytes,
        plan_limit_triggers=await run.progress.scalar(
            "SELECT count(*) FROM triggers WHERE type = 'plan_limit_80'"
        ),
        settings={k: v for _, _, extra in run.plan for k, v in extra.items()},
        started_at=started_at,
        finished_at=now(),
    )


async def measure_up(ctx: Context, workload: Workload) -> Throughput:
    """`pulse up`: ingest, scoring and alerts in one process."""
    started_at = now()
    messages = workload.messages
    async with backlog_run(ctx, messages, "up", [("pulse up", "up", {})]) as run:
        return await measured_throughput(run, run.processes[0], len(messages), started_at)


async def measure_baseline(ctx: Context, workload: Workload) -> Throughput:
    """The naive design: one transaction per event. Same code, scoring with batches of one
    record (ingest batches as usual, so what is measured is scoring's per-event cost)."""
    started_at = now()
    messages = workload.messages
    plan: Plan = [
        ("pulse ingest", "ingest", {}),
        ("pulse scoring", "scoring", {"PULSE_BATCH_MAX_RECORDS": "1"}),
    ]
    async with backlog_run(ctx, messages, "naive", plan) as run:
        return await measured_throughput(run, run.processes[1], len(messages), started_at)
