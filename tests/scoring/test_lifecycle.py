"""renewal_window, renewal_at_risk and onboarding_stalled (triggers/lifecycle.py) against the
pure rules: the window's edges, once per renewal date, the tier's window, the band, and each
onboarding milestone met and missed."""

from __future__ import annotations

from typing import Any

from harness.signals import account_record, login, support, usage
from services.scoring.accounts.state import AccountState
from services.scoring.scorecard.loading import parse
from tests.helpers.rules import of, run

# harness.signals' day 0 is 2026-09-01 (09:00 UTC).


def keys(fired: list[Any], kind: str) -> list[str]:
    return [t["dedup_key"] for t in of(fired, kind)]


def renewing(tier: int = 2, renewal_date: str = "2027-01-01", **fields: Any) -> AccountState:
    acme = AccountState("acme", 0)
    record = account_record("acme", name="Acme", tier=tier, renewal_date=renewal_date, **fields)
    run(acme, record)
    return acme


def test_renewal_window_opens_ninety_days_before_the_renewal_and_fires_once() -> None:
    acme = renewing()  # 2027-01-01 - 90 days = 2026-10-03 (day 32)
    assert keys(run(acme, login("acme", "u1", 31.6)), "renewal_window") == []  # 10-02 18:00
    fired = run(acme, login("acme", "u1", 32))
    assert keys(fired, "renewal_window") == ["acme:renewal_window:2027-01-01"]
    [trigger] = of(fired, "renewal_window")
    assert trigger["category"] == "lifecycle" and trigger["severity"] == "info"
    assert trigger["summary"] == "Acme renews on 2027-01-01, in 90 days"
    assert trigger["details"]["window_days"] == 90
    assert keys(run(acme, login("acme", "u1", 40)), "renewal_window") == []


def test_renewal_window_for_tier_one_opens_at_120_days() -> None:
    acme = renewing(tier=1)  # 2027-01-01 - 120 days = 2026-09-03
    assert keys(run(acme, login("acme", "u1", 1)), "renewal_window") == []
    assert keys(run(acme, login("acme", "u1", 2)), "renewal_window") == [
        "acme:renewal_window:2027-01-01"
    ]


def test_renewal_window_fires_again_for_the_next_renewal_date_not_after_the_date() -> None:
    acme = renewing(renewal_date="2026-10-01")
    assert keys(run(acme, login("acme", "u1", 5)), "renewal_window") == [
        "acme:renewal_window:2026-10-01"
    ]
    # Past the renewal date, an unchanged record is out of its window.
    assert keys(run(acme, login("acme", "u1", 31)), "renewal_window") == []
    renewed = account_record("acme", name="Acme", tier=2, renewal_date="2027-10-01")
    assert keys(run(acme, renewed, login("acme", "u1", 310)), "renewal_window") == [
        "acme:renewal_window:2027-10-01"
    ]


def test_renewal_at_risk_inside_the_window_when_the_band_is_not_green() -> None:
    acme = renewing(start_date="2026-08-01")
    green = [login("acme", f"u{i}", d + i / 10) for d in range(0, 33) for i in range(3)]
    fired = run(acme, *green)
    assert keys(fired, "renewal_window") == ["acme:renewal_window:2027-01-01"]
    assert keys(fired, "renewal_at_risk") == []
    assert acme.health["band"] == "green"
    # Urgent tickets and silence turn it; inside the window, once.
    tickets = [support("acme", 40 + i / 10, f"t{i}", "opened", priority="urgent") for i in range(6)]
    fired = run(acme, *tickets, login("acme", "u0", 60), login("acme", "u0", 61))
    assert acme.health["band"] != "green"
    assert keys(fired, "renewal_at_risk") == ["acme:renewal_at_risk:2027-01-01"]
    [trigger] = of(fired, "renewal_at_risk")
    assert trigger["severity"] == "critical" and trigger["category"] == "risk"
    assert trigger["details"]["band"] in ("yellow", "red")
    assert trigger["summary"].startswith("Acme renews on 2027-01-01, in ")


def test_renewal_at_risk_not_judged_without_health_data() -> None:
    acme = renewing()
    # A record alone: score null, band none. A CSAT-free survey-less account with no
    # activity has no band to judge by.
    assert acme.health.get("band") in (None, "none")
    assert (
        keys(
            run(acme, account_record("acme", tier=2, renewal_date="2027-01-01")), "renewal_at_risk"
        )
        == []
    )


def test_a_disabled_renewal_window_still_bounds_renewal_at_risk() -> None:
    card = parse(b"rules: {renewal_window: {enabled: false}}\n", "r.yaml")
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", tier=2, renewal_date="2027-01-01"), card=card)
    tickets = [support("acme", 33 + i / 10, f"t{i}", "opened", priority="urgent") for i in range(6)]
    fired = run(acme, login("acme", "u1", 33), *tickets, card=card)
    assert keys(fired, "renewal_window") == []
    assert keys(fired, "renewal_at_risk") == ["acme:renewal_at_risk:2027-01-01"]


def onboarding(start_date: str = "2026-09-01") -> AccountState:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", start_date=start_date))
    return acme


def test_onboarding_first_login_missed_is_judged_once_its_24_hours_have_passed() -> None:
    acme = onboarding()  # starts 2026-09-01 00:00; day 0 is 09:00 that day
    assert keys(run(acme, usage("acme", 0, feature="a")), "onboarding_stalled") == []
    fired = run(acme, usage("acme", 0.7, feature="a"))  # 09-02 01:48, past the first 24 hours
    assert keys(fired, "onboarding_stalled") == ["acme:onboarding_stalled:first_login"]
    [trigger] = of(fired, "onboarding_stalled")
    assert trigger["summary"] == "Acme: no one has logged in 24 hours after the start"
    assert trigger["details"]["milestone"] == "first_login"
    assert trigger["details"]["deadline"] == "2026-09-02"
    # A login afterwards does not undo it, and nothing fires twice.
    assert keys(run(acme, login("acme", "u1", 1)), "onboarding_stalled") == []


def test_onboarding_met_milestones_fire_nothing() -> None:
    acme = onboarding()
    team = [login("acme", f"u{i}", d) for d in range(0, 20) for i in range(3)]
    core = [usage("acme", 1, user_id="u0", feature="dashboards")]
    assert keys(run(acme, *team[:3], *core, *team[3:]), "onboarding_stalled") == []
    assert acme.rules["onboarding"] == ["first_login", "first_core_feature", "team"]


def test_onboarding_no_core_feature_in_72_hours_and_no_team_in_14_days() -> None:
    card = parse(b"core_features: [reports]\n", "core.yaml")
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", start_date="2026-09-01"), card=card)
    fired = run(
        acme,
        login("acme", "u1", 0),
        usage("acme", 1, user_id="u1", feature="chat"),  # not core
        login("acme", "u2", 5),
        login("acme", "u1", 14),  # 09-15 09:00: the team's 14 days are over
        card=card,
    )
    assert keys(fired, "onboarding_stalled") == [
        "acme:onboarding_stalled:first_core_feature",
        "acme:onboarding_stalled:team",
    ]
    [_, team] = of(fired, "onboarding_stalled")
    assert team["summary"] == "Acme: 2 active people in the first 14 days (fewer than 3)"
    assert team["details"]["active_people"] == 2


def test_onboarding_is_not_judged_once_the_first_30_days_are_over() -> None:
    acme = onboarding(start_date="2026-07-01")  # over by day 0
    assert keys(run(acme, usage("acme", 0, feature="a")), "onboarding_stalled") == []
    assert "onboarding" not in acme.rules


def test_onboarding_follows_the_tiers_deadlines() -> None:
    card = parse(
        b'tiers:\n  "1": {rules: {onboarding_stalled: {first_login_hours: 48, team_size: 2}}}\n',
        "t.yaml",
    )
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", tier=1, start_date="2026-09-01"), card=card)
    team = [login("acme", user, d) for d in range(1, 15) for user in ("u1", "u2")]
    fired = run(acme, usage("acme", 1, user_id="u1", feature="a"), *team, card=card)
    assert keys(fired, "onboarding_stalled") == []  # a login on day 1 is within 48 hours
