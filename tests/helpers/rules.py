"""Signals through the pure scoring core, as the rule tests drive it: the trigger events
they fire, as published on cs.triggers."""

from __future__ import annotations

from typing import Any, cast

from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import Scorecard, load
from shared.contracts.signals import Signal

BUILT_IN = load(None)
DEDUP = DedupWindow(86400.0)


def run(state: AccountState, *signals: dict[str, Any], card: Scorecard = BUILT_IN) -> list[Any]:
    fired = []
    for signal in signals:
        events = apply_signal(state, cast(Signal, signal), card, DEDUP, arrived=0.0)
        fired += [event.model_dump(mode="json") for event in events]
    return fired


def of(fired: list[Any], kind: str, status: str = "firing") -> list[Any]:
    """The events of one type and status, in order."""
    return [t for t in fired if t["type"] == kind and t["status"] == status]
