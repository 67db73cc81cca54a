"""expansion_ready (triggers/expansion.py) against the pure rules: a green account past the
adoption gate with an expansion signal; not with the gate shut, not without a signal, and not
again within its cooldown."""

from __future__ import annotations

from typing import Any

from harness.signals import account_record, login, usage
from services.scoring.accounts.state import AccountState
from tests.helpers.rules import of, run


def keys(fired: list[Any], kind: str) -> list[str]:
    return [t["dedup_key"] for t in of(fired, kind)]


def busy(account: str, days: range, features: list[str], people: int = 5) -> list[Any]:
    """Each day u0 uses each feature, then `people` log in."""
    events: list[Any] = []
    for d in days:
        events += [usage(account, d, user_id="u0", feature=f) for f in features]
        events += [login(account, f"u{i}", d + 0.1 + i / 100) for i in range(people)]
    return events


def test_expansion_ready_on_a_healthy_adopted_account_near_its_seat_limit() -> None:
    acme = AccountState("acme", 0)
    record = account_record("acme", name="Acme", limits={"seats": 6}, start_date="2026-08-01")
    fired = run(acme, record, *busy("acme", range(0, 20), ["a", "b", "c"]))
    assert acme.health["band"] == "green"
    assert keys(fired, "plan_limit_80") == ["acme:plan_limit_80:seats:2026-09"]
    [limit] = of(fired, "plan_limit_80")
    assert limit["details"]["expansion_gated"] is False
    [ready] = of(fired, "expansion_ready")
    assert ready["dedup_key"] == "acme:expansion_ready:2026-09-01"
    assert ready["details"]["signals"] == ["acme:plan_limit_80:seats:2026-09"]
    assert ready["summary"] == (
        "Acme is ready for an expansion conversation: healthy "
        f"({ready['details']['score']}), adopted, and seats at 80% of its limit"
    )
    # Cooldown: 30 days of event time.
    assert keys(run(acme, *busy("acme", range(20, 30), ["a", "b", "c"])), "expansion_ready") == []


def test_expansion_ready_not_while_the_adoption_gate_is_shut() -> None:
    acme = AccountState("acme", 0)
    record = account_record("acme", name="Acme", limits={"seats": 6}, start_date="2026-08-01")
    fired = run(acme, record, *busy("acme", range(0, 20), ["a", "b"]))
    [limit] = of(fired, "plan_limit_80")
    assert limit["details"]["expansion_gated"] is True
    assert keys(fired, "expansion_ready") == []


def test_expansion_ready_not_without_a_signal() -> None:
    acme = AccountState("acme", 0)
    record = account_record("acme", name="Acme", start_date="2026-08-01")
    fired = run(acme, record, *busy("acme", range(0, 40), ["a", "b", "c"]))
    assert acme.health["band"] == "green"
    assert keys(fired, "expansion_ready") == []
