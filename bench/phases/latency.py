"""Phases 3 and 6, latency at a fixed offered rate: produce -> visible in the API and
produce -> Slack alert, with the rated load alone and then with GET /health load as well."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from bench import feed
from bench.errors import BenchError
from bench.health_load import HealthLoad
from bench.phases.common import (
    READY_TIMEOUT,
    STALL_TIMEOUT,
    Context,
    Fresh,
    now,
    phase_topics,
    until_committed,
)
from bench.phases.probes import (
    API_PROBES_PER_SECOND,
    SLACK_PROBES_PER_SECOND,
    RatedLoad,
    probe_account,
)
from bench.processes import Child, Children, wait_ready
from bench.progress import Progress
from bench.stats import Percentiles, rate, summarize
from bench.workload import Workload, warm_up
from harness.database import fresh_database
from harness.processes import pulse_command
from harness.slack import SlackServer
from shared.kafka import free_port

HEALTH_SECONDS = 10.0
# The API's per-client rate limit would cap the health load and the probes (all from one
# address) at its own rate: the benchmark measures capacity, so it turns the limit off.
# The load's 20 CSMs get hundreds of alerts a second: paced at Slack's one post a second per
# channel, the phase would measure the pacing, not the service (docs/performance.md).
LATENCY_SETTINGS = {"PULSE_API_RATE_PER_SECOND": "0", "PULSE_SLACK_CHANNEL_INTERVAL_SECONDS": "0"}
# How the latency phase runs the services: as deployed under load, each in its own process,
# the API apart from scoring so that its answers never wait for a batch being applied.
LATENCY_DEPLOYMENT = [
    ("pulse ingest", []),
    ("pulse scoring", ["--no-api"]),
    ("pulse alerts", []),
    ("pulse api", []),
]
PROBE_PLAN_LIMIT = 10.0  # a usage of 9 on this limit is 90%: plan_limit_80 fires


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
    started_at = now()
    busy = min(HEALTH_SECONDS, seconds)
    fresh = ctx.fresh("latency")
    api_ids = _probe_ids(fresh, "api", API_PROBES_PER_SECOND * (seconds + busy))
    slack_ids = _probe_ids(fresh, "slack", SLACK_PROBES_PER_SECOND * (seconds + busy))
    preload = warm_up(workload) + [probe_account(a) for a in slack_ids]
    async with (
        fresh_database(ctx.admin, fresh.database) as url,
        phase_topics(ctx, fresh) as topics,
    ):
        await feed.produce_backlog(ctx.bootstrap, topics, preload)
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        with SlackServer() as sink, Children(ctx.log_dir) as children:
            slack = {"PULSE_SLACK_BOT_TOKEN": "xoxb-bench", "PULSE_SLACK_API_URL": sink.url}
            env = ctx.env(fresh, url, port, **slack, **LATENCY_SETTINGS)
            started = {
                name: children.start(name, [*pulse_command(name.split()[1]), *flags], env)
                for name, flags in LATENCY_DEPLOYMENT
            }
            services = list(started.values())
            async with ctx.progress(fresh) as progress:
                await until_committed(progress, len(preload), services, what="loading the accounts")
                await wait_ready(started["pulse api"], api_url, timeout=READY_TIMEOUT)
                await _until_alerts_delivered(progress, started["pulse alerts"])
                load = RatedLoad(ctx, children, topics, api_url, sink, workload)
                probes = await load.run(offered_rate, seconds, busy, api_ids, slack_ids)
                total = len(preload) + probes.offered.messages + len(api_ids) + len(slack_ids)
                await until_committed(progress, total, services, what="working off the rated load")
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
        finished_at=now(),
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
