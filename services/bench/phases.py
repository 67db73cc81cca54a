"""One function per measurement, each returning a dataclass.

Every phase gets fresh topic names and a fresh consumer-group prefix, and every process run
a fresh database, so no phase sees another's data or progress. Completion is read from the
database: scoring's stored offsets on the signals topic add up to the number of signals,
which is the number of input messages, since every generated message is valid. (Broker end
offsets are never used: the embedded broker reports them wrongly for multi-record batches.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.bench import feed
from services.bench.database import Progress, fresh_database
from services.bench.errors import BenchError
from services.bench.health_load import HealthLoad
from services.bench.processes import Child, Children, pulse_command, pulse_env, stop, wait_ready
from services.bench.slack_sink import SlackSink
from services.bench.stats import Percentiles, rate, summarize
from services.bench.workload import Message, Workload, live_events, warm_up
from shared.config import BaseServiceSettings, Topics
from shared.kafka import create_consumer, free_port

POLL_SECONDS = 0.1  # how often the stored offsets are read: one small query
START_TIMEOUT = 180.0  # from start to the first stored offset (start-up, group join)
STALL_TIMEOUT = 120.0  # longest time without progress once records flow
READY_TIMEOUT = 180.0  # to /readyz 200; a restart loads every account first
SETTLE_SECONDS = 1.0  # after readiness, before reading RSS: let start-up garbage go
# Probes: 10 a second in all. Most are Slack probes, whose arrival the Slack stand-in stamps
# for free; API probes cost the API a GET per poll.
API_PROBES_PER_SECOND = 2
SLACK_PROBES_PER_SECOND = 8
# The API probes share a budget of GETs: a probe in flight polls every max(floor, in flight /
# budget) seconds. Polling must stay small next to the load it measures: with fixed-interval
# polling a growing latency would put more probes in flight, and their GETs would take CPU
# from the services they measure. 50 GETs/s cost `pulse api` (its own process) about 2% of a
# core; the resolution is then about a twenty-fifth of the latency measured (reported as
# api_poll_interval_ms). It was 10/s while the API answered on scoring's event loop.
API_POLLS_PER_SECOND = 50.0
API_POLL_FLOOR_SECONDS = 0.025
PROBE_TIMEOUT = 60.0
HEALTH_CONCURRENCY = 32
HEALTH_SECONDS = 10.0
# The API's per-client rate limit would cap the health load and the probes (all from one
# address) at its own rate: the benchmark measures capacity, so it turns the limit off.
LATENCY_SETTINGS = {"PULSE_API_RATE_PER_SECOND": "0"}
# How the latency phase runs the services: as deployed under load, each in its own process,
# the API apart from scoring so that its answers never wait for a batch being applied.
LATENCY_DEPLOYMENT = [
    ("pulse ingest", []),
    ("pulse scoring", ["--no-api"]),
    ("pulse alerts", []),
    ("pulse api", []),
]
PROBE_PLAN_LIMIT = 10.0  # a usage of 9 on this limit is 90%: plan_limit_80 fires


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        topics = Topics(**{f: f"{name}.{f.replace('_', '-')}" for f in Topics.model_fields})
        return Fresh(name, topics, f"pulse_bench_{self.tag}_{self._count}_{phase}")

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
async def _topics(ctx: Context, fresh: Fresh) -> AsyncIterator[Topics]:
    await feed.create_topics(ctx.bootstrap, fresh.topics, ctx.partitions, ctx.replication_factor)
    try:
        yield fresh.topics
    finally:
        await feed.delete_topics(ctx.bootstrap, fresh.topics)


# -- 1. the raw limit ------------------------------------------------------------------------


@dataclass
class Raw:
    messages: int
    rate: float  # messages/s from the fetch that brought the first records to the last
    seconds: float
    produce_rate: float  # how fast the backlog was written (setup, for reference)
    started_at: str
    finished_at: str


async def measure_raw(ctx: Context, workload: Workload) -> Raw:
    """A bare consumer on the same input topics, configured like the services' consumers,
    that only parses each value: what the broker and client allow before any real work."""
    started_at = _now()
    fresh = ctx.fresh("raw")
    messages = workload.messages
    async with _topics(ctx, fresh) as topics:
        produced = await feed.produce_backlog(ctx.bootstrap, topics, messages)
        settings = BaseServiceSettings(kafka_bootstrap_servers=ctx.bootstrap, topics=topics)
        consumer = create_consumer(settings, f"{fresh.name}-raw")
        consumer.subscribe(topics.inputs())
        await consumer.start()
        try:
            first, done = await _read_all(consumer, len(messages))
        finally:
            await consumer.stop()
    return Raw(
        messages=len(messages),
        rate=rate(len(messages), done - first),
        seconds=round(done - first, 3),
        produce_rate=rate(produced.messages, produced.seconds),
        started_at=started_at,
        finished_at=_now(),
    )


async def _read_all(consumer: AIOKafkaConsumer, total: int) -> tuple[float, float]:
    """Read and parse until `total` records are seen; (when the fetch that brought the first
    ones began, when the last ones were parsed). Counted by reading, never by end offsets."""
    count = 0
    first: float | None = None
    last_progress = time.monotonic()
    while count < total:
        asked = time.monotonic()
        batch = await consumer.getmany(timeout_ms=10, max_records=5000)
        for records in batch.values():
            for record in records:
                orjson.loads(record.value)
            count += len(records)
        if batch:
            first = asked if first is None else first
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > (STALL_TIMEOUT if first else START_TIMEOUT):
            raise BenchError(f"the raw consumer read {count} of {total} records, then nothing")
    assert first is not None
    return first, time.monotonic()


# -- 2. throughput from a backlog --------------------------------------------------------------


@dataclass
class Completion:
    started: float  # monotonic: when the first process was started
    first_at: float  # when a stored offset was first seen
    first_value: int  # and how many signals it covered
    done_at: float


async def _until_committed(
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
class _Run:
    plan: Plan
    env: dict[str, str]
    children: Children
    processes: list[Child]
    progress: Progress
    completion: Completion


@contextlib.asynccontextmanager
async def _backlog_run(
    ctx: Context,
    messages: list[Message],
    phase: str,
    plan: Plan,
) -> AsyncIterator[_Run]:
    """Fresh topics and database, the backlog produced, then the (name, command, extra env)
    processes started together and waited on until every signal is committed."""
    fresh = ctx.fresh(phase)
    async with (
        fresh_database(ctx.admin, fresh.database) as url,
        _topics(ctx, fresh) as topics,
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
                done = await _until_committed(
                    progress, len(messages), started, what=f"{names} worked off the backlog"
                )
                yield _Run(plan, env, children, started, progress, done)


async def _throughput(run: _Run, scoring: Child, total: int, started_at: str) -> Throughput:
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
        finished_at=_now(),
    )


async def measure_up(ctx: Context, workload: Workload) -> Throughput:
    """`pulse up`: ingest, scoring and alerts in one process."""
    started_at = _now()
    messages = workload.messages
    async with _backlog_run(ctx, messages, "up", [("pulse up", "up", {})]) as run:
        return await _throughput(run, run.processes[0], len(messages), started_at)


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
    started_at = _now()
    messages = workload.messages
    plan: Plan = [("pulse ingest", "ingest", {}), ("pulse scoring", "scoring", {})]
    async with _backlog_run(ctx, messages, "split", plan) as run:
        scoring = run.processes[1]
        result = await _throughput(run, scoring, len(messages), started_at)
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
        _topics(ctx, fresh),
    ):
        with Children(ctx.log_dir) as children:
            return await _ready_scoring(ctx, children, ctx.env(fresh, url, 0), "empty")


# -- 4. the naive baseline --------------------------------------------------------------------


async def measure_baseline(ctx: Context, workload: Workload) -> Throughput:
    """The naive design: one transaction per event. Same code, scoring with batches of one
    record (ingest batches as usual, so what is measured is scoring's per-event cost)."""
    started_at = _now()
    messages = workload.messages
    plan: Plan = [
        ("pulse ingest", "ingest", {}),
        ("pulse scoring", "scoring", {"PULSE_BATCH_MAX_RECORDS": "1"}),
    ]
    async with _backlog_run(ctx, messages, "naive", plan) as run:
        return await _throughput(run, run.processes[1], len(messages), started_at)


# -- 3 and 6. latency at a fixed rate, then with API load too -----------------------------------


@dataclass
class Latency:
    offered_rate: float  # what was asked for (messages/s)
    achieved_rate: float  # what the producer managed, over both windows
    seconds: float  # the first window: the rated load alone
    busy_seconds: float  # the second: the rated load and the health load (figure 6)
    messages: int  # sent at the offered rate in both windows, probes not included
    preload_messages: int  # the accounts' warm-up and the probe accounts
    api: Percentiles  # produce -> GET /v1/accounts/{id} stops answering 404
    slack: Percentiles  # produce -> the Slack stand-in receives the plan_limit_80 alert
    api_under_api_load: Percentiles  # the same, for probes sent in the second window
    slack_under_api_load: Percentiles
    api_polls: int  # GETs the API probes made
    api_poll_interval_ms: float  # their mean interval: the resolution of the API figures
    drain_seconds: float  # after the load stopped, until every signal was committed
    deployment: list[str] = field(default_factory=list)  # the processes, as command lines
    settings: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""


async def measure_latency(
    ctx: Context, workload: Workload, *, offered_rate: float, seconds: float
) -> tuple[Latency, HealthLoad]:
    """The services deployed as under load (LATENCY_DEPLOYMENT: the API in its own process),
    with the workload's accounts loaded (see workload.warm_up) and their alerts delivered;
    then the workload's events, live, at `offered_rate`: `seconds` alone, then up to 10 s
    more with the health load (6). Probes throughout, each timed from produce to its effect;
    the two windows are reported apart."""
    started_at = _now()
    busy = min(HEALTH_SECONDS, seconds)
    fresh = ctx.fresh("latency")
    api_ids = _probe_ids(fresh, "api", API_PROBES_PER_SECOND * (seconds + busy))
    slack_ids = _probe_ids(fresh, "slack", SLACK_PROBES_PER_SECOND * (seconds + busy))
    preload = warm_up(workload) + [_probe_account(a) for a in slack_ids]
    async with (
        fresh_database(ctx.admin, fresh.database) as url,
        _topics(ctx, fresh) as topics,
    ):
        await feed.produce_backlog(ctx.bootstrap, topics, preload)
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        with SlackSink() as sink, Children(ctx.log_dir) as children:
            slack = {"PULSE_SLACK_BOT_TOKEN": "xoxb-bench", "PULSE_SLACK_API_URL": sink.url}
            env = ctx.env(fresh, url, port, **slack, **LATENCY_SETTINGS)
            started = {
                name: children.start(name, [*pulse_command(name.split()[1]), *flags], env)
                for name, flags in LATENCY_DEPLOYMENT
            }
            services = list(started.values())
            async with ctx.progress(fresh) as progress:
                await _until_committed(
                    progress, len(preload), services, what="loading the accounts"
                )
                await wait_ready(started["pulse api"], api_url, timeout=READY_TIMEOUT)
                await _until_alerts_delivered(progress, started["pulse alerts"])
                load = _RatedLoad(ctx, children, topics, api_url, sink, workload)
                probes = await load.run(offered_rate, seconds, busy, api_ids, slack_ids)
                total = len(preload) + probes.offered.messages + len(api_ids) + len(slack_ids)
                await _until_committed(progress, total, services, what="working off the rated load")
                drained = time.monotonic() - probes.offered_until
    quiet_api = math.ceil(API_PROBES_PER_SECOND * seconds)
    quiet_slack = math.ceil(SLACK_PROBES_PER_SECOND * seconds)
    latency = Latency(
        offered_rate=offered_rate,
        achieved_rate=rate(probes.offered.messages, probes.offered.seconds),
        seconds=seconds,
        busy_seconds=busy,
        messages=probes.offered.messages,
        preload_messages=len(preload),
        api=summarize(probes.api[:quiet_api]),
        slack=summarize(probes.slack[:quiet_slack]),
        api_under_api_load=summarize(probes.api[quiet_api:]),
        slack_under_api_load=summarize(probes.slack[quiet_slack:]),
        api_polls=probes.polls.count,
        api_poll_interval_ms=round(probes.polls.mean_interval() * 1000, 1),
        drain_seconds=round(max(drained, 0.0), 3),
        deployment=[" ".join([name, *flags]) for name, flags in LATENCY_DEPLOYMENT],
        settings=dict(LATENCY_SETTINGS),
        started_at=started_at,
        finished_at=_now(),
    )
    return latency, probes.health


def _probe_ids(fresh: Fresh, kind: str, count: float) -> list[str]:
    return [f"probe-{fresh.name}-{kind}-{k}" for k in range(math.ceil(count))]


async def _until_alerts_delivered(progress: Progress, child: Child) -> None:
    """Every stored trigger has its Slack delivery finished: the rated load starts from a
    quiet system, not behind a queue of alerts fired by the preload."""
    deadline = time.monotonic() + STALL_TIMEOUT
    while True:
        child.check_alive("delivering the preload's alerts")
        waiting = await progress.scalar(
            "SELECT (SELECT count(*) FROM triggers)"
            " - (SELECT count(*) FROM deliveries WHERE status <> 'pending')"
        )
        if waiting <= 0:
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"{waiting} alerts fired by the preload were still undelivered after "
                f"{STALL_TIMEOUT:.0f}s; last output of {child.name}:\n{child.tail(1500)}"
            )
        await asyncio.sleep(0.25)


def _probe_account(account: str) -> Message:
    """A probe account whose first usage of 9 api_calls crosses 80% of its limit."""
    return Message(
        "accounts",
        {
            "account_id": account,
            "name": f"Probe {account}",
            "csm": {"name": "Bench", "slack": "UBENCHPROBE"},
            "plan": {"name": "Probe", "period": "month", "limits": {"api_calls": PROBE_PLAN_LIMIT}},
        },
    )


@dataclass
class _Probes:
    offered: feed.Offered
    offered_until: float
    api: list[float]  # latencies, in the order the probes were sent
    slack: list[float]
    polls: _Polls
    health: HealthLoad


@dataclass
class _RatedLoad:
    """The rated load, the probes and the health load, all at once."""

    ctx: Context
    children: Children
    topics: Topics
    api_url: str
    sink: SlackSink
    workload: Workload

    async def run(
        self,
        offered_rate: float,
        seconds: float,
        busy: float,
        api_ids: list[str],
        slack_ids: list[str],
    ) -> _Probes:
        """`seconds` of load, then `busy` more with the health load as well."""
        passes = math.ceil(offered_rate * (seconds + busy) / max(len(self.workload.events), 1))
        events = live_events(self.workload, passes)
        source: Iterator[Message] = (feed.live(m, n) for n, m in enumerate(itertools.cycle(events)))
        load_client = feed.producer(self.ctx.bootstrap, linger_ms=5)
        # Probes go alone, without linger: the harness adds no batching delay of its own.
        probe_client = feed.producer(self.ctx.bootstrap, linger_ms=0)
        await load_client.start()
        await probe_client.start()
        polls = _Polls()
        try:
            with _first_error():
                async with (
                    httpx.AsyncClient(base_url=self.api_url, timeout=10.0) as api,
                    asyncio.TaskGroup() as tasks,
                ):
                    offering = feed.offer(
                        load_client, self.topics, source, rate=offered_rate, seconds=seconds + busy
                    )
                    offered = tasks.create_task(offering)
                    api_probes = [
                        partial(_api_probe, probe_client, self.topics, api, polls, a)
                        for a in api_ids
                    ]
                    slack_probes = [
                        partial(_slack_probe, probe_client, self.topics, self.sink, a)
                        for a in slack_ids
                    ]
                    api_task = tasks.create_task(_schedule(API_PROBES_PER_SECOND, api_probes))
                    slack_task = tasks.create_task(_schedule(SLACK_PROBES_PER_SECOND, slack_probes))
                    health = tasks.create_task(self._health_load(delay=seconds, length=busy))
                    done = await offered
                    offered_until = time.monotonic()
        finally:
            await load_client.stop()
            await probe_client.stop()
        return _Probes(
            done, offered_until, api_task.result(), slack_task.result(), polls, health.result()
        )

    async def _health_load(self, *, delay: float, length: float) -> HealthLoad:
        """Concurrent GET .../health for `length` seconds in a child process."""
        await asyncio.sleep(delay)
        out = self.ctx.log_dir / f"health-load-{time.monotonic_ns()}.json"
        # Through -c: with -m, runpy warns that the package already imported the module.
        argv = [sys.executable, "-c", "from services.bench.health_load import main; main()"]
        argv += ["--url", self.api_url, "--accounts", str(self.workload.accounts)]
        argv += ["--seconds", str(length), "--concurrency", str(HEALTH_CONCURRENCY)]
        argv += ["--seed", str(self.ctx.seed), "--out", str(out)]
        child = self.children.start("health load", argv, dict(self.ctx.environ))
        deadline = time.monotonic() + length + 60
        while child.running():
            if time.monotonic() > deadline:
                raise BenchError(f"the health load did not finish within {length + 60:.0f}s")
            await asyncio.sleep(0.1)
        if child.process.returncode != 0:
            raise BenchError(f"the health load failed: {child.tail()}")
        load = HealthLoad(**json.loads(out.read_text()))
        if load.requests == 0:
            raise BenchError(
                f"no GET /v1/accounts/{{id}}/health answered 200 ({load.errors} errors)"
            )
        return load


@contextlib.contextmanager
def _first_error() -> Iterator[None]:
    """A task group fails with a group of errors; report the first, which names what did
    not happen (the others are usually its consequences)."""
    try:
        yield
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def _schedule(
    per_second: float, probes: Sequence[Callable[[], Coroutine[Any, Any, float]]]
) -> list[float]:
    """Start probe k at k / per_second seconds; their latencies, in start order. One that
    fails cancels the rest."""
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        running: list[asyncio.Task[float]] = []
        for k, probe in enumerate(probes):
            await asyncio.sleep(max(0.0, started + k / per_second - time.monotonic()))
            running.append(group.create_task(probe()))
    return [task.result() for task in running]


class _Polls:
    """The API probes' shared GET budget (see API_POLLS_PER_SECOND)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.count = 0  # GETs sent
        self.gaps = 0  # GETs that followed another of the same probe
        self.waited = 0.0  # the time between those

    def interval(self) -> float:
        return max(API_POLL_FLOOR_SECONDS, self.in_flight / API_POLLS_PER_SECOND)

    def mean_interval(self) -> float:
        return self.waited / self.gaps if self.gaps else API_POLL_FLOOR_SECONDS


async def _api_probe(
    client: AIOKafkaProducer,
    topics: Topics,
    api: httpx.AsyncClient,
    polls: _Polls,
    account: str,
) -> float:
    """A usage event naming a new account; polled until the API stops answering 404."""
    event = {
        "event_id": f"{account}-e",
        "account_id": account,
        "occurred_at": feed.now_iso(),
        "user_id": f"{account}-u",
        "feature": "probe",
    }
    sent = time.monotonic()
    delivery = await client.send(topics.product_usage, orjson.dumps(event), key=account.encode())
    polls.in_flight += 1
    try:
        previous = None
        while time.monotonic() - sent < PROBE_TIMEOUT:
            asked = time.monotonic()
            if previous is not None:
                polls.gaps += 1
                polls.waited += asked - previous
            previous = asked
            polls.count += 1
            try:
                status = (await api.get(f"/v1/accounts/{account}")).status_code
            except httpx.TransportError:
                status = 0
            if status == 200:
                seen = time.monotonic() - sent
                await delivery  # done long ago: the event had an effect
                return seen
            if status not in (0, 404):
                raise BenchError(f"GET /v1/accounts/{account} answered {status} in a probe")
            await asyncio.sleep(polls.interval())
    finally:
        polls.in_flight -= 1
    raise BenchError(
        f"probe account {account} was not visible through GET /v1/accounts/{account} "
        f"within {PROBE_TIMEOUT:.0f}s of its event being produced{_failed(delivery)}"
    )


async def _slack_probe(
    client: AIOKafkaProducer, topics: Topics, sink: SlackSink, account: str
) -> float:
    """9 api_calls on a limit of 10; timed until the Slack stand-in has the alert."""
    event = {
        "event_id": f"{account}-e",
        "account_id": account,
        "occurred_at": feed.now_iso(),
        "metric": "api_calls",
        "value": PROBE_PLAN_LIMIT - 1,
    }
    sent = time.monotonic()
    delivery = await client.send(topics.product_usage, orjson.dumps(event), key=account.encode())
    while time.monotonic() - sent < PROBE_TIMEOUT:
        arrived = sink.arrived(account, "plan_limit_80")
        if arrived is not None:
            await delivery  # done long ago: the event had an effect
            return arrived - sent
        await asyncio.sleep(0.01)  # an in-process lookup: the arrival is stamped by the sink
    raise BenchError(
        f"the plan_limit_80 alert for probe account {account} did not reach the Slack "
        f"stand-in within {PROBE_TIMEOUT:.0f}s of its usage event being produced"
        f"{_failed(delivery)}"
    )


def _failed(delivery: asyncio.Future[Any]) -> str:
    """Why a probe's event never reached the broker, if that is the reason."""
    if delivery.done() and not delivery.cancelled() and delivery.exception() is not None:
        return f" (the broker refused it: {delivery.exception()})"
    return ""
