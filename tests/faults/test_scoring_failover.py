"""Two scoring instances share the partitions, with ingest and alerts as their own processes;
one is killed with SIGKILL mid-stream. The survivor takes its partitions once the group's
session timeout passes, loads their state from the database, and the end equals the clean run.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from shared.kafka import free_port
from tests.helpers.fault_checks import assert_same
from tests.helpers.fault_runs import Run
from tests.helpers.fault_workload import SMALL
from tests.helpers.processes import PulseProcess

KILL_AT_STEP = 15


def assigned(service: PulseProcess) -> list[str]:
    return re.findall(r"scoring: assigned (.*)", service.output())


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_the_surviving_scoring_instance_takes_over_a_killed_ones_partitions(
    clean_small: dict[str, Any], run: Run
) -> None:
    env = run.env(PULSE_KAFKA_SESSION_TIMEOUT_MS="6000")
    services = [PulseProcess(env, "ingest"), PulseProcess(env, "alerts")]
    first = PulseProcess({**env, "PULSE_API_PORT": str(free_port())}, "scoring")
    second = PulseProcess({**env, "PULSE_API_PORT": str(free_port())}, "scoring")
    services += [first, second]
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=15) as api_second:
            await asyncio.gather(first.ready(), second.ready())

            async def kill_first(step: int) -> None:
                if step == KILL_AT_STEP:
                    assert assigned(first) and assigned(second), "both should own partitions"
                    await first.stop(kill=True)

            await run.drive(SMALL, after_send=kill_first)
            await run.settle()
            result = await run.snapshot(api_second, SMALL)
        # The survivor ended up with all four partitions of cs.signals.
        last = assigned(second)[-1]
        assert len(re.findall(r"signals\[\d\]", last)) == 4, assigned(second)
    except BaseException:
        for service in services:
            print(f"--- {service.command}\n{service.output()[-3000:]}")
        raise
    finally:
        for service in services:
            await service.stop()
    assert first.process.returncode == -9
    assert_same(result, clean_small, SMALL)
