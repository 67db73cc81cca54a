"""Pacing posts per Slack channel: Slack asks for about one message a second per channel, and
answers a burst beyond it with 429s. A post waits for its channel's turn when that is near;
when it is further off, the delivery is put off until then (not counted as a try), so a burst
to one CSM never holds a sender slot, nor times out, for long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from services.alerts.senders.base import DeliveryError


class Pace:
    def __init__(
        self,
        interval: float,
        *,
        wait_at_most: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval  # seconds between two posts to one channel; 0: no pacing
        self.wait_at_most = wait_at_most
        self.clock = clock
        self._next: dict[str, float] = {}  # channel -> when its next post may go

    def turn(self, channel: str) -> float:
        """Take the channel's next turn: how long to wait for it (0: now). A turn further off
        than wait_at_most is not taken: DeliveryError, to try again when it comes."""
        if self.interval <= 0:
            return 0.0
        now = self.clock()
        at = max(now, self._next.get(channel, now))
        wait = at - now
        if wait > self.wait_at_most:
            raise DeliveryError(
                f"paced: Slack takes about one message a second per channel; {channel} is busy",
                retry_after=wait,
                counts=False,
            )
        self._next[channel] = at + self.interval
        self._forget_idle(now)
        return wait

    async def wait_turn(self, channel: str) -> None:
        if wait := self.turn(channel):
            await asyncio.sleep(wait)

    def _forget_idle(self, now: float) -> None:
        """Channels whose turn has passed need no entry: keeps the map to the busy ones."""
        if len(self._next) > 1000:
            self._next = {c: at for c, at in self._next.items() if at > now}
