"""Event loops: uvloop when it is installed, and a coroutine on a loop of its own in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def run(coro: Coroutine[Any, Any, T]) -> T:
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
