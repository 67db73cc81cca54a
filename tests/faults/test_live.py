"""As a live system runs: the last ten days' events of every kind mixed together, the tick on,
and `pulse up` killed with SIGKILL while they flow, on SQLite, its default database (the other
kill tests run on PostgreSQL).

The order in which scoring sees a mixed stream differs from run to run, so the result is
compared with what the workload implies (fault_checks.assert_matches_workload), not with
another run: usage per period exact, the plan-limit triggers exact, the triggers each
account's profile implies, and each alert delivered exactly once per receiver.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.kafka import EmbeddedBroker
from tests.helpers.fault_checks import assert_matches_workload
from tests.helpers.fault_runs import private_run
from tests.helpers.fault_workload import KINDS, Workload, build
from tests.helpers.processes import PulseProcess

SEED = 20261205
DAYS = 10
KILL_AFTER_DAYS = (2, 5, 8)


def live_workload() -> Workload:
    """Ten days up to today's midnight (UTC), each day's usage, logins and tickets sent as one
    step, interleaved as independent producers would send them (each topic in its order)."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=DAYS)
    # Heavy enough that heavy accounts reach their limit within the days of either month.
    workload = build(seed=SEED, accounts=60, days=DAYS, start=start, heavy_events=5)
    rng = random.Random(SEED)
    days = [workload.steps[i : i + len(KINDS)] for i in range(0, len(workload.steps), len(KINDS))]
    workload.steps = [_interleave(day, rng) for day in days]
    return workload


def _interleave(streams: list[list[tuple[str, dict]]], rng: random.Random) -> list:
    queues = [list(reversed(stream)) for stream in streams if stream]
    mixed = []
    while queues:
        queue = rng.choice(queues)
        mixed.append(queue.pop())
        if not queue:
            queues.remove(queue)
    return mixed


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_live_mixed_stream_with_kills_on_sqlite_gives_what_the_workload_implies(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    workload = live_workload()
    async with private_run(broker.bootstrap, tmp_path / "pulse.db") as run:
        env = run.env(PULSE_TICK_SECONDS="1", PULSE_KAFKA_SESSION_TIMEOUT_MS="3000")
        pulse = PulseProcess(env)
        rng = random.Random(SEED)

        async def kill_while_flowing(day: int) -> None:
            nonlocal pulse
            if day in KILL_AFTER_DAYS:
                await asyncio.sleep(rng.uniform(0.1, 1.0))  # the day is still being applied
                await pulse.stop(kill=True)
                assert pulse.process.returncode == -9
                pulse = PulseProcess(env)

        try:
            await pulse.ready()
            await run.drive(workload, after_send=kill_while_flowing)
            await pulse.ready()
            await run.settle()
            async with httpx.AsyncClient(base_url=pulse.url, timeout=15) as api:
                result = await run.snapshot(api, workload)
        except BaseException:
            print(pulse.output()[-5000:])
            raise
        finally:
            await pulse.stop()
    kinds = {kind for _, kind, _, _ in result["triggers"].values()}
    assert {"plan_limit_80", "single_threaded"} <= kinds  # the run shows something
    assert_matches_workload(result, workload)
