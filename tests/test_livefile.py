"""Live configuration files: one SIGHUP reloads every file the process watches (`pulse up` runs
the scorecard and the routing side by side)."""

from __future__ import annotations

import asyncio
import os
import signal
from itertools import count

from prometheus_client import CollectorRegistry, Counter

from harness.waiting import wait_for
from shared import livefile
from shared.livefile import LiveFile


def _live(name: str, registry: CollectorRegistry) -> LiveFile[int]:
    loads = count()
    reloads = Counter(f"{name}_reloads_total", "reloads", ["outcome"], registry=registry)
    return LiveFile(None, lambda _: next(loads), name=name, version=str, reloads=reloads)


def _watching() -> int:
    loop = asyncio.get_running_loop()
    return sum(1 for watching, _ in livefile._WATCHING if watching is loop)


async def test_one_sighup_reloads_every_watched_file() -> None:
    registry = CollectorRegistry()
    first, second = _live("first", registry), _live("second", registry)
    before = _watching()  # other tests' services may share this event loop
    stop = asyncio.Event()
    watching = [asyncio.create_task(live.watch(stop, every=0.05)) for live in (first, second)]
    try:
        await wait_for(lambda: _watching() == before + 2, timeout=5, what="both watching")
        assert (first.current, second.current) == (0, 0)
        # This loop handles SIGHUP (else the signal would end the test run).
        assert [asyncio.get_running_loop()] == livefile._HANDLER
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: first.current == 1 and second.current == 1, timeout=5)
    finally:
        stop.set()
        await asyncio.gather(*watching)
    assert _watching() == before
    if not livefile._WATCHING:  # the process's own SIGHUP handling is back once none watches
        assert signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.default_int_handler)
