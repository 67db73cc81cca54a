"""The latency phase's load: the rated load, the API and Slack probes timed from produce
to their effect, and the health load in a child process, all at once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from bench import feed
from bench.errors import BenchError
from bench.health_load import HealthLoad
from bench.phases.common import Context
from bench.processes import Children
from bench.workload import Message, Workload, live_events
from harness.slack import SlackServer
from shared.config import Topics

# Probes: 10 a second in all. Most are Slack probes, whose arrival the Slack stand-in stamps
# for free; API probes cost the API a GET per poll.
API_PROBES_PER_SECOND = 2
SLACK_PROBES_PER_SECOND = 8
# The API probes share a budget of GETs: a probe in flight polls every max(floor, in flight /
# budget) seconds. Polling must stay small next to the load it measures: with fixed-interval
# polling a growing latency would put more probes in flight, and their GETs would take CPU
# from the services they measure. The resolution is reported as api_poll_interval_ms.
API_POLLS_PER_SECOND = 50.0
API_POLL_FLOOR_SECONDS = 0.025
PROBE_TIMEOUT = 60.0
HEALTH_CONCURRENCY = 32
PROBE_PLAN_LIMIT = 10.0  # a usage of 9 on this limit is 90%: plan_limit_80 fires


def probe_account(account: str) -> Message:
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
class Probes:
    offered: feed.Offered
    offered_until: float
    api: list[float]  # latencies, in the order the probes were sent
    slack: list[float]
    polls: Polls
    health: HealthLoad


@dataclass
class RatedLoad:
    """The rated load, the probes and the health load, all at once."""

    ctx: Context
    children: Children
    topics: Topics
    api_url: str
    sink: SlackServer
    workload: Workload

    async def run(
        self,
        offered_rate: float,
        seconds: float,
        busy: float,
        api_ids: list[str],
        slack_ids: list[str],
    ) -> Probes:
        """`seconds` of load, then `busy` more with the health load as well."""
        passes = math.ceil(offered_rate * (seconds + busy) / max(len(self.workload.events), 1))
        events = live_events(self.workload, passes)
        source: Iterator[Message] = (feed.live(m, n) for n, m in enumerate(itertools.cycle(events)))
        load_client = feed.producer(self.ctx.bootstrap, linger_ms=5)
        # Probes go alone, without linger: the harness adds no batching delay of its own.
        probe_client = feed.producer(self.ctx.bootstrap, linger_ms=0)
        await load_client.start()
        await probe_client.start()
        polls = Polls()
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
        return Probes(
            done, offered_until, api_task.result(), slack_task.result(), polls, health.result()
        )

    async def _health_load(self, *, delay: float, length: float) -> HealthLoad:
        """Concurrent GET .../health for `length` seconds in a child process."""
        await asyncio.sleep(delay)
        out = self.ctx.log_dir / f"health-load-{time.monotonic_ns()}.json"
        # Through -c: with -m, runpy warns that the package already imported the module.
        argv = [sys.executable, "-c", "from bench.health_load import main; main()"]
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


class Polls:
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
    polls: Polls,
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
    client: AIOKafkaProducer, topics: Topics, sink: SlackServer, account: str
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
