"""Event loops: uvloop when it is installed, and a coroutine on a loop of its own in a thread;
and the garbage collector's pace for a service process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


# Python collects its youngest generation every 700 allocations, and the older ones every
# 10 collections of the one below. Scoring allocates dicts and lists for every event, and
# each collection walks every young object; a full one walks every decoded account.
# Collected after 200,000 allocations instead, the collector takes a small share of scoring's
# CPU rather than a large one (docs/performance.md has the measurement). Garbage is still
# collected, only in larger steps.
GC_THRESHOLDS = (200_000, 10, 100)


def pace_garbage_collection() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a service process's main coroutine."""
    pace_garbage_collection()
    try:
        import uvloop
    except ImportError:  # only the import: an ImportError inside the program is its own
        return asyncio.run(coro)
    return uvloop.run(coro)


async def run_in_thread(name: str, work: Work, stop: asyncio.Event) -> None:
    """Run `work(its_stop)` on a new event loop in a thread until `stop` is set; a failure of
    the work is raised here.

    For a part whose latency matters beside CPU-heavy work on the calling loop: a thread gets
    the interpreter every few milliseconds, where a task waits for the loop's next turn.
    """
    caller = asyncio.get_running_loop()
    finished: asyncio.Future[None] = caller.create_future()
    started = threading.Event()
    own: dict[str, Any] = {}

    async def main() -> None:
        own["loop"], own["stop"] = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        await work(own["stop"])

    def report(error: BaseException | None) -> None:
        if not finished.done():
            if error is None:
                finished.set_result(None)
            else:
                finished.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        try:
            run(main())
        except BaseException as exc:  # handed to the caller's loop, raised there
            error = exc
        finally:
            started.set()
        caller.call_soon_threadsafe(report, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    waiting = asyncio.ensure_future(stop.wait())
    try:
        either: list[asyncio.Future[Any]] = [finished, waiting]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        await asyncio.to_thread(started.wait)
        if not finished.done():
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile: it is done
                own["loop"].call_soon_threadsafe(own["stop"].set)
        await asyncio.shield(finished)
