"""Health components that age their data out and count what the scorecard names: pure
functions of an account's state."""

from __future__ import annotations

from typing import Any, cast

from harness.signals import account_record, at, login, stakeholder, support, survey, usage
from services.scoring.accounts.apply import apply_signal, card_of, refresh_health
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.health.score import compute_health
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
    assert counted == {
        "score": 60,
        "weight": 25,
        "why": "3 core features used in the last 30 days (5 or more wanted)",
        "inputs": {"core_features_used": 3, "target": 5, "window_days": 30},
    }


def _component(state: AccountState, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], state.health["components"][name])


def test_an_account_named_only_by_a_record_has_no_score_and_is_not_judged() -> None:
    named = _state(account_record("acme", name="Acme"), stakeholder("acme", "d@acme.com"))
    assert (named.health["score"], named.health["band"]) == (None, "none")
    whys = {name: c["why"] for name, c in named.health["components"].items()}
    assert whys["engagement"] == "no login or usage yet"
    assert whys["support"] == "no event yet"
    assert all(c["score"] is None for c in named.health["components"].values())
    assert "health_red" not in named.rules  # a rule that needs a band is not judged
    # Its first event gives it a score.
    first = _state(account_record("acme"), login("acme", "u1", 0))
    assert first.health["score"] == round((20 * 33 + 15 * 100 + 15 * 100) / 50)


def test_relationship_weighs_departments_and_an_engaged_champion_and_sponsor() -> None:
    logins = [
        login("acme", "u1", 1, email="dana@acme.com", department="ops"),
        login("acme", "u2", 1, email="lee@acme.com", department="it"),
    ]
    without_roles = _component(_state(*logins), "relationship")
    assert without_roles["score"] == 27  # 40 x 2/3: two departments, no champion or sponsor
    assert without_roles["inputs"] == {
        "departments": ["it", "ops"],
        "champion": "none",
        "executive_sponsor": "none",
    }
    roles = [
        stakeholder("acme", "dana@acme.com", role="champion", department="ops"),
        stakeholder("acme", "kim@acme.com", role="executive_sponsor"),  # never logged in
    ]
    full = _component(_state(*logins, *roles), "relationship")
    assert full["score"] == 27 + 30 + 15
    assert full["why"] == (
        "engaged people in 2 departments (3 or more wanted); champion engaged; "
        "executive sponsor not engaged"
    )
    # Thirty days without a login: nobody is engaged, the roles are still there.
    later = _component(
        _state(*logins, *roles, support("acme", 40, "T-1", "opened")), "relationship"
    )
    assert later["inputs"]["departments"] == [] and later["score"] == 15 + 15
    # Nothing known about departments or roles: no data, left out rather than counted as 0.
    unknown = _component(_state(login("acme", "u1", 1)), "relationship")
    assert unknown["score"] is None


def test_support_counts_a_ticket_rate_above_the_accounts_own() -> None:
    usual = [support("acme", d, f"old-{d}", "opened") for d in (0, 20, 40)]
    closed = [support("acme", d + 1, f"old-{d}", "closed") for d in (0, 20, 40)]
    spike = [support("acme", 70 + d, f"new-{d}", "opened", priority="low") for d in range(3)]
    calm = _state(*usual, *closed, *spike[:2], login("acme", "u1", 75))
    assert _component(calm, "support")["score"] == 100 - 2 * 2
    busy = _component(_state(*usual, *closed, *spike, login("acme", "u1", 75)), "support")
    # Three in 30 days against 1.5 usually (three in the 60 days before): a rate penalty.
    assert busy["score"] == 100 - 3 * 2 - 15
    assert busy["inputs"]["opened_last_30_days"] == 3
    assert busy["inputs"]["usual_per_30_days"] == 1.5
    assert "3 tickets opened in 30 days (usually 1.5)" in busy["why"]


def test_sentiment_takes_each_respondents_latest_nps_of_180_days_and_csat() -> None:
    answers = [
        survey("acme", 0, "nps", 3, email="Dana@acme.com"),
        survey("acme", 10, "nps", 10, email="dana@acme.com"),  # Dana changed her mind
        survey("acme", 11, "nps", 9, user_id="u2"),
        survey("acme", 12, "nps", 5, user_id="u3"),
    ]
    state = _state(login("acme", "u1", 0), *answers)
    sentiment = _component(state, "sentiment")
    # Two promoters and a detractor of three: NPS +33, scored (33 + 100) / 2.
    assert sentiment["inputs"] == {"nps": 33, "respondents": 3, "promoters": 2, "detractors": 1}
    assert sentiment["score"] == 66
    with_csat = _state(
        login("acme", "u1", 0), *answers, survey("acme", 13, "csat", 4, user_id="u4")
    )
    assert _component(with_csat, "sentiment")["score"] == round((66.5 + 75) / 2)
    aged = _state(login("acme", "u1", 0), *answers, login("acme", "u1", 195))
    assert _component(aged, "sentiment") == {
        "score": None,
        "weight": 10,
        "why": "no survey answer in the last 180 days",
        "inputs": {},
    }


def test_weights_come_from_the_scorecard_of_the_accounts_tier() -> None:
    heavy_support = parse(b'tiers:\n  "1": {health: {weights: {support: 500}}}\n', "tiers.yaml")
    urgent = [support("acme", 0, f"T-{n}", "opened", priority="urgent") for n in range(3)]
    signals = [login("acme", "u1", 0), *urgent]
    tier_1 = _state(account_record("acme", tier=1), *signals, scorecard=heavy_support)
    tier_2 = _state(account_record("acme", tier=2), *signals, scorecard=heavy_support)
    assert _component(tier_1, "support")["weight"] == 500
    assert _component(tier_2, "support")["weight"] == 15
    assert tier_1.health["score"] < tier_2.health["score"]


def test_no_component_appears_with_the_passing_of_time_alone() -> None:
    """Evaluated later without a new event, an account may lose components whose data aged
    out, never gain one: the score moves with what the customer does."""
    histories = [
        [login("acme", "u1", 0)],
        [usage("acme", 0, user_id="u1", feature="reports")],
        [support("acme", 0, "T-1", "opened")],
        [survey("acme", 0, "nps", 8, user_id="u1")],
        [
            login("acme", "u1", 0, department="ops"),
            stakeholder("acme", "c@acme.com", role="champion"),
        ],
    ]
    for history in histories:
        state = _state(*history)
        card = card_of(state, BUILT_IN)
        with_data = None
        for day in range(0, 400, 3):
            health = compute_health(state, at(day), card)
            now = {n for n, c in health["components"].items() if c["score"] is not None}
            assert with_data is None or now <= with_data, (history[0]["kind"], day, now)
            with_data = now


def test_health_judged_on_a_day_before_the_first_login_counts_no_activity_yet() -> None:
    """A backfill's ticket can come before anyone's first login: the day it is judged on
    (behind the watermark) had no activity yet, whatever came later."""
    state = _state(support("acme", 3, "T-1", "opened"), login("acme", "u1", 5))
    before = compute_health(state, at(3), card_of(state, BUILT_IN))
    assert before["components"]["activity"]["why"] == "no login or usage yet"
    after = compute_health(state, at(5), card_of(state, BUILT_IN))
    assert after["components"]["activity"]["why"] == "active on 1 of the last 1 days"
