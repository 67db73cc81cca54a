"""The scorecard a running service uses, replaced whole when its file changes or on SIGHUP.

A new scorecard takes effect between batches: the processor reads `current` once per batch
and per tick, so no evaluation ever mixes two scorecards. A file that does not validate keeps
the scorecard in use, and says so in the log, the pulse_scorecard_reloads_total metric and
/readyz's body, until a valid file replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from services.scoring.metrics import SCORECARD_RELOADS as RELOADS
from services.scoring.scorecard.loading import Scorecard, ScorecardError, load
from shared.readiness import Readiness

log = logging.getLogger(__name__)

NOTICE = "scorecard"


class LiveScorecard:
    def __init__(self, path: str | None, readiness: Readiness | None = None) -> None:
        self.path = path
        self.readiness = readiness
        self.current: Scorecard = load(path)  # invalid at start: refuse to start
        self._seen = _stamp(path)

    def reload(self) -> bool:
        """Load the file again; keep the scorecard in use if it does not validate."""
        self._seen = _stamp(self.path)
        try:
            new = load(self.path)
        except ScorecardError as exc:
            RELOADS.labels("invalid").inc()
            kept = self.current.version
            log.error("scorecard %s not loaded, still using %s:\n%s", self.path, kept, exc)
            self._notice(f"{self.path} is invalid; still using version {kept}: {exc}")
            return False
        if new.version != self.current.version:
            was = self.current.version
            log.info("scorecard %s: version %s (was %s)", self.path, new.version, was)
        self.current = new
        RELOADS.labels("loaded").inc()
        self._notice(None)
        return True

    def changed(self) -> bool:
        return self.path is not None and _stamp(self.path) != self._seen

    async def watch(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Reload on SIGHUP and whenever the file changes, until `stop`."""
        hangup = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, hangup.set)
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hangup.wait(), every)
                if hangup.is_set() or self.changed():
                    hangup.clear()
                    self.reload()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)

    def _notice(self, text: str | None) -> None:
        if self.readiness is None:
            return
        if text is None:
            self.readiness.clear_notice(NOTICE)
        else:
            self.readiness.notice(NOTICE, text)


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    """What changes when the file does (an editor's rename included)."""
    if path is None:
        return None
    try:
        info = os.stat(Path(path))
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)
