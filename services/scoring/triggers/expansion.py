"""expansion_ready: a healthy account that has adopted the product and shows an expansion
signal. A pure function, like rules.py."""

from __future__ import annotations

from datetime import datetime

from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import DAY, date_of
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import (
    PLAN_LIMITS,
    adoption_gate_open,
    cooling_down,
    fire_news,
    last_fired,
    note_firing,
)
from shared.contracts.triggers import TriggerEvent

SIGNAL_DAYS = 30  # how long a seat_growth or login_frequency_up counts as a signal
GROWTH = ("seat_growth", "login_frequency_up")


def expansion_signals(state: AccountState, at: float) -> list[str]:
    """The expansion signals present at `at`: active plan-limit triggers fired by then (by
    dedup_key), and growth triggers fired in the last 30 days (by type). Behind the
    watermark, `at` may come before a plan limit the account's newer events reached."""
    active = state.rules.get("active", {}).values()
    signals = sorted(
        t["dedup_key"]
        for t in active
        if t["type"] in PLAN_LIMITS and datetime.fromisoformat(t["fired_at"]).timestamp() <= at
    )
    for kind in GROWTH:
        fired = last_fired(state, kind)
        if fired is not None and fired <= at < fired + SIGNAL_DAYS * DAY:
            signals.append(kind)
    return signals


def may_become_ready(state: AccountState, at: float, card: Card) -> bool:
    """Whether health rising alone could fire expansion_ready: a signal is there and the
    rule is not cooling down."""
    rule = card.rules.expansion_ready
    return (
        rule.enabled
        and not cooling_down(state, "expansion_ready", at, rule.cooldown_days)
        and bool(expansion_signals(state, at))
    )


def check_expansion_ready(state: AccountState, at: float, card: Card) -> TriggerEvent | None:
    """Green, the adoption gate open, and an expansion signal; then not again for
    cooldown_days."""
    rule = card.rules.expansion_ready
    if not rule.enabled or state.health.get("band") != "green":
        return None
    if cooling_down(state, "expansion_ready", at, rule.cooldown_days):
        return None
    signals = expansion_signals(state, at)
    if not signals or not adoption_gate_open(state, at, card):
        return None
    note_firing(state, "expansion_ready", at)
    summary = (
        f"{state.name} is ready for an expansion conversation: healthy ({state.health['score']}), "
        f"adopted, and {', '.join(_described(s) for s in signals)}"
    )
    details = {
        "signals": signals,
        "score": state.health["score"],
        "min_core_features": rule.min_core_features,
        "cooldown_days": rule.cooldown_days,
    }
    return fire_news(state, card, "expansion_ready", date_of(at), at, summary, details)


def _described(signal: str) -> str:
    if signal in GROWTH:
        return "seats growing" if signal == "seat_growth" else "logins going daily"
    _, kind, metric, _ = signal.rsplit(":", 3)
    return f"{metric} at {'its limit' if kind == 'plan_limit_100' else '80% of its limit'}"
