"""Health components that age their data out and count what the scorecard names: pure
functions of an account's state."""

from __future__ import annotations

from typing import Any, cast

from harness.signals import login, support, usage
from services.scoring.accounts.apply import apply_signal, card_of, refresh_health
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import Scorecard, load, parse
from shared.contracts.signals import Signal

BUILT_IN = load(None)


def _state(*signals: dict[str, Any], scorecard: Scorecard = BUILT_IN) -> AccountState:
    state = AccountState("acme", 0)
    for signal in signals:
        apply_signal(state, cast(Signal, signal), scorecard, DedupWindow(3600), arrived=0)
    refresh_health(state, card_of(state, scorecard))  # as scoring does before storing it
    return state


def _support(state: AccountState) -> tuple[int, str]:
    component = state.health["components"]["support"]
    return component["score"], component["why"]


def test_an_open_ticket_nobody_touched_for_90_days_stops_counting() -> None:
    urgent = support("acme", 0, "T-1", "opened", priority="urgent")
    assert _support(_state(urgent, login("acme", "u1", 89))) == (
        70,
        "1 open tickets updated in the last 90 days (1 high or urgent)",
    )
    assert _support(_state(urgent, login("acme", "u1", 90))) == (
        100,
        "0 open tickets updated in the last 90 days",
    )
    touched = support("acme", 60, "T-1", "updated")  # an update keeps it current
    assert _support(_state(urgent, touched, login("acme", "u1", 120)))[0] == 70


def test_low_satisfaction_counts_for_90_days() -> None:
    unhappy = [support("acme", d, f"T-{d}", "closed", csat=1) for d in range(3)]
    assert _support(_state(*unhappy, login("acme", "u1", 80)))[0] == 80
    assert _support(_state(*unhappy, login("acme", "u1", 95)))[0] == 100


def test_adoption_counts_the_scorecards_core_features_only() -> None:
    used = [
        usage("acme", 1, user_id="u1", feature=feature)
        for feature in ("dashboards", "reports.export", "reports.schedule", "chat", "sso")
    ]
    every = _state(*used)
    assert every.health["components"]["adoption"]["score"] == 100  # five of five wanted
    core = parse(b"core_features: [dashboards, 'reports.*']\n", "core.yaml")
    counted = _state(*used, scorecard=core).health["components"]["adoption"]
    assert counted == {"score": 60, "weight": 15, "why": "3 core features used in the last 30 days"}
