"""Fixtures for fault tests: one clean run of the shared workload per session, the reference
every faulty run is compared with."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.kafka import EmbeddedBroker
from tests.helpers.fault_runs import Run, private_run
from tests.helpers.fault_workload import SMALL, WORKLOAD, Workload
from tests.helpers.processes import pulse_up


@pytest.fixture
async def run(broker: EmbeddedBroker) -> AsyncIterator[Run]:
    async with private_run(broker.bootstrap) as fresh:
        yield fresh


async def clean_run(bootstrap: str, workload: Workload) -> dict[str, Any]:
    """The workload run once without faults: what every faulty run must equal."""
    started = time.monotonic()
    async with private_run(bootstrap) as reference, pulse_up(reference.env()) as (_, api):
        await reference.drive(workload)
        await reference.settle()
        result = await reference.snapshot(api, workload)
    print(f"clean run: {workload.events} events in {time.monotonic() - started:.1f}s")
    return result


@pytest.fixture(scope="session")
async def clean(broker: EmbeddedBroker) -> dict[str, Any]:
    return await clean_run(broker.bootstrap, WORKLOAD)


@pytest.fixture(scope="session")
async def clean_small(broker: EmbeddedBroker) -> dict[str, Any]:
    return await clean_run(broker.bootstrap, SMALL)
