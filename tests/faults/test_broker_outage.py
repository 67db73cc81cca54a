"""The broker unreachable for ~25 s mid-stream: a private Tansu advertised at a TCP proxy the
test cuts. Producers and consumers of every service come back without a restart; nothing is
lost and nothing doubled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from harness.waiting import wait_for
from tests.helpers.fault_checks import assert_same
from tests.helpers.fault_runs import private_run
from tests.helpers.fault_workload import SMALL
from tests.helpers.processes import PulseProcess, readiness
from tests.helpers.proxies import broker_behind_proxy

OUTAGE_SECONDS = 25.0
CUT_AT_STEP = 10


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_broker_outage_is_survived_without_restart_or_loss(
    clean_small: dict[str, Any],
) -> None:
    seen: dict[str, Any] = {}
    async with broker_behind_proxy() as (bootstrap, proxy), private_run(bootstrap) as run:
        pulse = PulseProcess(run.env())
        async with httpx.AsyncClient(base_url=pulse.url, timeout=15) as api:
            try:
                await pulse.ready()

                async def outage(step: int) -> None:
                    if step != CUT_AT_STEP:
                        return
                    proxy.cut()
                    cut_at = time.monotonic()

                    # Observed, not required: scoring's and alerts' consumers wait quietly
                    # for the broker; ingest reports it once a commit or send has failed
                    # for its bound (about 30 s), so a short outage may never show on /readyz.
                    while time.monotonic() - cut_at < OUTAGE_SECONDS:
                        status, body = await readiness(api)
                        if status == 503 and "problems" not in seen:
                            seen["problems"] = body["problems"]
                            seen["to_503"] = round(time.monotonic() - cut_at, 1)
                        await asyncio.sleep(0.5)
                    proxy.restore()
                    restored = time.monotonic()

                    async def ready() -> bool:
                        return (await readiness(api))[0] == 200

                    await wait_for(ready, timeout=90, what="/readyz 200 after the broker came back")
                    seen["back_to_200"] = time.monotonic() - restored

                # The driver's own producer goes through the proxy too, so it waits out the
                # outage inside the hook, with step CUT_AT_STEP in flight inside the services.
                await run.drive(SMALL, after_send=outage, step_timeout=120)
                await run.settle(timeout=150)
                result = await run.snapshot(api, SMALL)
                assert pulse.process.poll() is None, "pulse up exited instead of recovering"
            except BaseException:
                print(pulse.output()[-5000:])
                raise
            finally:
                await pulse.stop()
    print(f"broker outage: {seen}")
    assert_same(result, clean_small, SMALL)
