"""What an attempt to deliver came to (Outcome), and how outcomes reach the database: many to a
transaction (OutcomeBatches). With the retry schedule and the scrubbing of secrets from the
errors stored."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import leases
from services.alerts.leases import Claimed
from services.alerts.senders import Receipt

RETRY = "retry"


def backoff_seconds(
    attempts: int, base: float, cap: float, jitter: Callable[[], float] = random.random
) -> float:
    """base * 2^(attempts-1), capped; plus up to 10% jitter so retries of many deliveries
    that failed together (a receiver outage) do not all come back at the same instant."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * (1 + 0.1 * jitter())


def scrubber(secrets: Iterable[str | None]) -> Callable[[str], str]:
    hidden = [s for s in secrets if s]

    def scrub(text: str) -> str:
        for secret in hidden:
            text = text.replace(secret, "***")
        return text

    return scrub


@dataclass(frozen=True)
class Outcome:
    status: str  # DELIVERED, RETRY, FAILED, SKIPPED or SILENCED
    recipient: str | None
    error: str = ""
    retry_after: float | None = None
    receipt: Receipt | None = None  # where the receiver keeps the message sent (Slack)
    # A try that did not send (a notice waiting for its alert) does not count towards giving up.
    counts: bool = True


class OutcomeBatches:
    """Stores send outcomes many to a transaction, as they come (group commit).

    A send the receiver accepted but nobody recorded yet is resent after a crash (SMTP cannot
    be asked whether it has it), so outcomes must reach the database fast, also in a burst of
    a hundred sends ending together: one at a time they would queue for pool connections.
    While one transaction is under way, the outcomes arriving meanwhile gather for the next.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._waiting: list[tuple[Claimed, leases.Outcome, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, row: Claimed, outcome: leases.Outcome) -> bool:
        """Whether the outcome counted (False: the lease had passed to another worker)."""
        counted = asyncio.get_running_loop().create_future()
        self._waiting.append((row, outcome, counted))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await counted

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await leases.finish(self.engine, [(r, o) for r, o, _ in batch])
                except Exception as exc:  # each waiting send logs it and keeps its lease
                    for *_, counted in batch:
                        if not counted.done():  # done: its sender was cancelled (a stop)
                            counted.set_exception(exc)
                else:
                    for (*_, counted), result in zip(batch, results, strict=True):
                        if not counted.done():
                            counted.set_result(result)
        finally:
            self._writer = None
