"""A configuration file a running service uses, replaced whole when the file changes or on
SIGHUP (the scorecard, the routing file).

Users read `current` once per unit of work (a batch, a tick, a poll), so no unit ever mixes
two versions. A file that does not validate keeps the one in use, and says so in the log, a
reloads metric (outcome loaded or invalid) and /readyz's body, until a valid file replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from prometheus_client import Counter

from shared.errors import ConfigurationError
from shared.readiness import Readiness

log = logging.getLogger(__name__)

T = TypeVar("T")


class LiveFile(Generic[T]):
    def __init__(
        self,
        path: str | None,
        load: Callable[[str | None], T],
        *,
        name: str,
        version: Callable[[T], str],
        reloads: Counter,
        readiness: Readiness | None = None,
    ) -> None:
        """`load` reads the file (None: the built-in default) and raises a ConfigurationError
        for one that does not validate; `name` is what the log and /readyz call it; `version`
        says which one is in use."""
        self.path = path
        self.name = name
        self.readiness = readiness
        self._load, self._version, self._reloads = load, version, reloads
        self.current: T = load(path)  # invalid at start: refuse to start
        self._seen = _stamp(path)

    def in_use(self) -> T:
        """`current`, as a function to hand to those that read it each time."""
        return self.current

    def reload(self) -> bool:
        """Load the file again; keep the one in use if it does not validate."""
        self._seen = _stamp(self.path)
        try:
            new = self._load(self.path)
        except ConfigurationError as exc:
            self._reloads.labels("invalid").inc()
            kept = self._version(self.current)
            log.error("%s %s not loaded, still using %s:\n%s", self.name, self.path, kept, exc)
            self._notice(f"{self.path} is invalid; still using {kept}: {exc}")
            return False
        if self._version(new) != self._version(self.current):
            was = self._version(self.current)
            log.info("%s %s: %s (was %s)", self.name, self.path, self._version(new), was)
        self.current = new
        self._reloads.labels("loaded").inc()
        self._notice(None)
        return True

    def changed(self) -> bool:
        return self.path is not None and _stamp(self.path) != self._seen

    async def watch(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Reload on SIGHUP and whenever the file changes, until `stop`."""
        with _hangups() as hangup:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hangup.wait(), every)
                if hangup.is_set() or self.changed():
                    hangup.clear()
                    self.reload()

    def _notice(self, text: str | None) -> None:
        if self.readiness is None:
            return
        if text is None:
            self.readiness.clear_notice(self.name)
        else:
            self.readiness.notice(self.name, text)


# One SIGHUP reloads every live file of the process. `pulse up` runs scoring's scorecard and
# alerts' routing side by side, each service on its own thread and event loop, and only the
# main thread may handle a signal: its handler wakes every watcher, on its own loop.
_WATCHING: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_HANDLER: list[asyncio.AbstractEventLoop] = []  # the loop holding the SIGHUP handler, if any


@contextlib.contextmanager
def _hangups() -> Iterator[asyncio.Event]:
    hangup, loop = asyncio.Event(), asyncio.get_running_loop()
    watcher = (loop, hangup)
    _WATCHING.add(watcher)
    handles = not _HANDLER and threading.current_thread() is threading.main_thread()
    if handles:
        try:
            loop.add_signal_handler(signal.SIGHUP, _hung_up)
            _HANDLER.append(loop)
        except (NotImplementedError, RuntimeError, ValueError):  # no signals on this platform
            handles = False
    try:
        yield hangup
    finally:
        _WATCHING.discard(watcher)
        if handles:
            _HANDLER.clear()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)


def _hung_up() -> None:
    for loop, hangup in list(_WATCHING):
        with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
            loop.call_soon_threadsafe(hangup.set)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    """What changes when the file does (an editor's rename included)."""
    if path is None:
        return None
    try:
        info = os.stat(Path(path))
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)
