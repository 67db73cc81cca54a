"""Polling until something holds, with a time limit and a message saying what did not
happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class NotYet(str):
    """A falsy answer to a check that says what is still missing, shown when the wait times
    out."""

    def __bool__(self) -> bool:
        return False


async def wait_for(
    check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll an async or sync check until it returns something truthy; fail with `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check} (last: {result!r})"
            )
        await asyncio.sleep(interval)
