"""A coroutine on a loop of its own in a thread: stopped with the caller, failures raised."""

from __future__ import annotations

import asyncio
import threading

import pytest

from shared.eventloop import run_in_thread


async def test_the_work_runs_on_another_thread_until_stop() -> None:
    seen: dict[str, object] = {}

    async def work(stop: asyncio.Event) -> None:
        seen["thread"] = threading.current_thread().name
        await stop.wait()
        seen["stopped"] = True

    stop = asyncio.Event()
    running = asyncio.create_task(run_in_thread("worker", work, stop))
    await asyncio.sleep(0.2)
    assert seen == {"thread": "worker"} and not running.done()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert seen["stopped"] is True


async def test_a_failure_of_the_work_is_raised_to_the_caller() -> None:
    async def work(stop: asyncio.Event) -> None:
        await asyncio.sleep(0.05)
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        await asyncio.wait_for(run_in_thread("worker", work, asyncio.Event()), 5)
