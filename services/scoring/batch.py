"""What one batch of signals has done so far, for scoring's processor to store it whole or
put an account back when a signal fails."""

from __future__ import annotations

from collections import Counter

from aiokafka.structs import ConsumerRecord

from services.scoring.accounts.repository import AccountRow
from services.scoring.accounts.state import AccountState
from services.scoring.health.history import Point
from services.scoring.scorecard.loading import Scorecard
from shared.contracts.signals import Signal
from shared.contracts.triggers import TriggerEvent
from shared.deadletter import DeadLetterOutbox


class BatchWork:
    """What one batch has done so far: the accounts changed since their rows were built,
    the rows built, triggers fired, dead letters, and the signals applied to each account
    since it was last packed (to undo a failure)."""

    def __init__(
        self, dead_letters: DeadLetterOutbox, scorecard: Scorecard, started: float
    ) -> None:
        self.dead_letters = dead_letters
        self.scorecard = scorecard  # one for the whole batch, whatever a reload does meanwhile
        self.started = started  # processing time (the watermark's idle clock)
        self.dirty: dict[str, AccountState] = {}
        self.rows: dict[str, AccountRow] = {}
        self.fired: list[TriggerEvent] = []
        self.letters: list[dict[str, object]] = []
        # Each with the watermark it was applied under, to apply it again the same way.
        self.since_packed: dict[str, list[tuple[ConsumerRecord, Signal, float]]] = {}
        self.kinds: Counter[str] = Counter()
        self.points: list[Point] = []

    def applied(
        self, state: AccountState, record: ConsumerRecord, signal: Signal, judge_until: float
    ) -> None:
        self.dirty[state.account_id] = state
        self.since_packed.setdefault(state.account_id, []).append((record, signal, judge_until))
        self.kinds[signal["kind"]] += 1

    def set_aside(self, record: ConsumerRecord, reason: str, counted: str | None = None) -> None:
        """Dead-letter a record (`counted`: the kind it was counted as applied under)."""
        self.letters.append(self.dead_letters.letter(record, reason))
        if counted is not None:
            self.kinds[counted] -= 1
        self.kinds["rejected"] += 1
