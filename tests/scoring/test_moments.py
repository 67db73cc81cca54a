"""The catalogue's rules judged at one input (triggers/moments.py) and plan_limit_100: each
at its edges, with a tier override, against the pure rules."""

from __future__ import annotations

from typing import Any, cast

from harness.signals import account_record, login, stakeholder, support, survey, usage
from services.alerts.messages import details_text
from services.scoring.accounts.state import AccountState
from services.scoring.scorecard.loading import parse
from services.scoring.triggers.explain import condition, explanation
from services.scoring.triggers.rules import PLAN_LIMITS
from shared.contracts.triggers import TriggerEvent
from tests.helpers.rules import BUILT_IN, of, run

PLANS = parse(
    b"plans:\n"
    b"  - {name: Starter, features: [dashboards, 'reports.*']}\n"
    b"  - {name: Growth, features: [workflows]}\n"
    b"  - {name: Enterprise, features: [sso, 'integrations.*']}\n",
    "plans.yaml",
)


def active(state: AccountState) -> list[str]:
    return sorted(t["type"] for t in state.rules.get("active", {}).values())


def test_plan_limit_100_fires_at_the_limit_and_rearms_below_90_percent() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"storage_gb": 100}, name="Acme"))
    gauge = [usage("acme", d, metric="storage_gb", value=v, mode="absolute") for d, v in
             enumerate([99.9, 100, 100.5, 91, 89, 100])]  # fmt: skip
    events = [run(acme, g) for g in gauge]
    fired = [of(e, "plan_limit_100") for e in events]
    assert [len(f) for f in fired] == [0, 1, 0, 0, 0, 1]
    # Below 90% the episode ends: the same trigger again, resolved, once.
    ended = [of(e, "plan_limit_100", "resolved") for e in events]
    assert [len(e) for e in ended] == [0, 0, 0, 0, 1, 0]
    assert ended[4][0]["trigger_id"] == fired[1][0]["trigger_id"]
    first = fired[1][0]
    assert first["dedup_key"] == "acme:plan_limit_100:storage_gb:2026-09"
    assert first["category"] == "expansion" and first["severity"] == "warning"
    assert first["details"]["fire_ratio"] == 1.0 and first["details"]["rearm_ratio"] == 0.9
    # Both plan-limit episodes are active at 100%, each once.
    assert active(acme) == ["plan_limit_100", "plan_limit_80"]


def test_plan_limit_100_ends_with_a_delta_metrics_period() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 1000}))
    assert of(run(acme, usage("acme", 1, metric="api_calls", value=1000)), "plan_limit_100")
    ended = run(acme, usage("acme", 30, metric="api_calls", value=1))  # October: a new period
    assert not {"plan_limit_80", "plan_limit_100"} & set(active(acme))
    assert sorted((t["type"], t["status"]) for t in ended if t["type"] in PLAN_LIMITS) == [
        ("plan_limit_100", "resolved"),
        ("plan_limit_80", "resolved"),
    ]


def test_champion_left_fires_once_for_a_key_role_in_this_record_or_the_one_before() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme"), login("acme", "u1", 0))
    run(acme, stakeholder("acme", "dana@acme.com", name="Dana", role="champion"))
    # Her record now says she left, without her role: the record before had it.
    fired = run(acme, stakeholder("acme", "dana@acme.com", name="Dana", status="left"))
    assert [t["dedup_key"] for t in fired] == ["acme:champion_left:dana@acme.com"]
    assert fired[0]["summary"] == "Acme: Dana, the champion, has left"
    assert fired[0]["severity"] == "critical" and fired[0]["category"] == "risk"
    assert "champion_left" not in active(acme)  # news, not an episode
    # A user leaving is not news; an economic buyer leaving is.
    assert run(acme, stakeholder("acme", "lee@acme.com", status="left")) == []
    buyer = run(acme, stakeholder("acme", "kim@acme.com", role="economic_buyer", status="left"))
    assert [t["type"] for t in buyer] == ["champion_left"]


def test_champion_left_follows_the_tiers_roles() -> None:
    narrow = parse(b'tiers:\n  "3": {rules: {champion_left: {roles: [champion]}}}\n', "t.yaml")
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", tier=3), login("acme", "u1", 0), card=narrow)
    left = stakeholder("acme", "kim@acme.com", role="economic_buyer", status="left")
    assert run(acme, left, card=narrow) == []


def test_nps_detractor_at_six_not_at_seven_once_per_respondent_and_day() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0))
    assert of(run(acme, survey("acme", 1, "nps", 7, email="a@acme.com")), "nps_detractor") == []
    fired = of(
        run(acme, survey("acme", 1, "nps", 6, email="B@acme.com", comment="slow")), "nps_detractor"
    )
    assert [t["dedup_key"] for t in fired] == ["acme:nps_detractor:b@acme.com:2026-09-02"]
    assert fired[0]["details"] == {
        "respondent": "b@acme.com",
        "score": 6,
        "comment": "slow",
        "max_score": 6,
    }
    assert of(run(acme, survey("acme", 1, "csat", 1, user_id="u1")), "nps_detractor") == []


def test_advocacy_ready_needs_a_promoter_a_green_band_and_no_active_risk() -> None:
    acme = AccountState("acme", 0)
    people = [login("acme", f"u{i}", d, department=f"d{i}") for d in range(3) for i in range(3)]
    run(acme, *people)
    assert acme.health["band"] == "green"
    assert of(run(acme, survey("acme", 2, "nps", 8, user_id="u1")), "advocacy_ready") == []
    fired = of(run(acme, survey("acme", 2, "nps", 9, user_id="u2")), "advocacy_ready")
    assert [t["dedup_key"] for t in fired] == ["acme:advocacy_ready:u2:2026"]
    assert fired[0]["category"] == "advocacy"
    # An active risk (single-threaded after its week) holds advocacy back.
    lonely = AccountState("lonely", 0)
    run(lonely, account_record("lonely", start_date="2026-08-01"))
    run(lonely, *(login("lonely", "u1", d) for d in range(9)))
    assert "single_threaded" in active(lonely)
    assert of(run(lonely, survey("lonely", 9, "nps", 10, user_id="u1")), "advocacy_ready") == []


def test_a_feature_request_for_a_higher_plans_feature() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme"), login("acme", "u1", 0), card=PLANS)
    acme.profile = {**(acme.profile or {}), "plan": {"name": "growth", "limits": {}}}

    def request(ticket: str, feature: str) -> list[Any]:
        ask = support("acme", 1, ticket, "opened", category="feature_request",
                      requested_feature=feature)  # fmt: skip
        return of(run(acme, ask, card=PLANS), "feature_request_higher_tier")

    fired = request("T-1", "integrations.salesforce")
    assert [t["dedup_key"] for t in fired] == ["acme:feature_request_higher_tier:T-1"]
    assert fired[0]["summary"] == (
        "Acme asked for integrations.salesforce, which comes with Enterprise (they are on Growth)"
    )
    assert request("T-2", "reports.export") == []  # Growth includes Starter's features
    assert request("T-3", "workflows") == []  # their own plan's
    assert request("T-4", "teleportation") == []  # no plan has it
    # Without plans in the scorecard (the built-in one), the rule never fires.
    bare = AccountState("bare", 0)
    ask = support("bare", 1, "T-9", "opened", category="feature_request", requested_feature="sso")
    assert of(run(bare, account_record("bare"), ask), "feature_request_higher_tier") == []


def test_news_explains_itself_in_words() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0))
    [detractor] = [
        TriggerEvent.model_validate(t)
        for t in of(run(acme, survey("acme", 1, "nps", 2, user_id="u1")), "nps_detractor")
    ]
    assert explanation(detractor) == {
        "condition": "an NPS answer of 6 or less (a detractor)",
        "thresholds": {"max_score": 6},
        "values": {"respondent": "u1", "score": 2},
        "scorecard_version": BUILT_IN.version,
    }
    run(acme, stakeholder("acme", "kim@acme.com", role="executive_sponsor"))
    [left] = run(acme, stakeholder("acme", "kim@acme.com", status="left"))
    assert condition(TriggerEvent.model_validate(left)) == (
        "a stakeholder record says a person whose role is executive sponsor has left the account"
    )


def test_a_plan_limit_is_gated_until_three_core_features_were_used_in_30_days() -> None:
    core = parse(b"core_features: [dashboards, 'reports.*']\n", "core.yaml")

    def limit_hit(features: list[tuple[float, str]]) -> dict[str, Any]:
        acme = AccountState("acme", 0)
        run(acme, account_record("acme", {"api_calls": 100}), card=core)
        used = [usage("acme", day, user_id="u1", feature=f) for day, f in features]
        run(acme, *used, card=core)
        [trigger] = of(run(acme, usage("acme", 40, metric="api_calls", value=90), card=core),
                       "plan_limit_80")  # fmt: skip
        return cast(dict[str, Any], trigger)

    # Three core features, the oldest on day 11: within the 30 days to day 40.
    opened = limit_hit([(11, "dashboards"), (20, "reports.export"), (30, "reports.pdf")])
    assert opened["details"]["expansion_gated"] is False
    # The same three, one of them on day 10 (31 days before); or a non-core one: gated.
    assert limit_hit([(10, "dashboards"), (20, "reports.export"), (30, "reports.pdf")])["details"][
        "expansion_gated"
    ]
    gated = limit_hit([(11, "dashboards"), (20, "reports.export"), (30, "chat")])
    assert gated["details"]["expansion_gated"] is True
    text = details_text(TriggerEvent.model_validate(gated))
    assert text.startswith("Adoption first: fewer than the scorecard's core features are in use")
    assert "Adoption first" not in details_text(TriggerEvent.model_validate(opened))


def test_one_answer_that_is_both_news_gives_each_its_own_details() -> None:
    overlap = parse(
        b"rules:\n  nps_detractor: {max_score: 9}\n  advocacy_ready: {min_score: 9}\n", "o.yaml"
    )
    acme = AccountState("acme", 0)
    people = [login("acme", f"u{i}", d, department=f"d{i}") for d in range(3) for i in range(3)]
    run(acme, *people, card=overlap)
    fired = run(acme, survey("acme", 2, "nps", 9, user_id="u1"), card=overlap)
    assert {t["type"]: sorted(t["details"]) for t in fired} == {
        "nps_detractor": ["max_score", "respondent", "score"],
        "advocacy_ready": ["min_score", "respondent", "score"],
    }


def opened(account: str, day: float, ticket: str) -> dict[str, Any]:
    return support(account, day, ticket, "opened", priority="high")


def spikes(fired: list[Any]) -> list[str]:
    return [t["dedup_key"] for t in of(fired, "support_spike")]


def test_support_spike_at_the_third_ticket_in_seven_days_counted_once_each() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme"), login("acme", "u1", 0))
    assert spikes(run(acme, opened("acme", 10, "T1"), opened("acme", 12, "T2"))) == []
    assert spikes(run(acme, opened("acme", 12.5, "T2"))) == []  # T2 again: still two
    fired = of(run(acme, opened("acme", 16.9, "T3")), "support_spike")
    assert [t["dedup_key"] for t in fired] == ["acme:support_spike:2026-09-18"]
    assert fired[0]["category"] == "risk" and fired[0]["severity"] == "warning"
    assert fired[0]["details"] == {
        "opened_7_days": 3,
        "usual_per_week": 0.0,
        "min_tickets": 3,
        "factor": 3.0,
        "cooldown_days": 7,
    }
    assert fired[0]["summary"] == "Acme: 3 tickets opened in 7 days, against 0.0 in a usual week"
    assert "support_spike" not in active(acme)  # news, with a cooldown rather than an episode
    event = TriggerEvent.model_validate(fired[0])
    assert condition(event).startswith("at a ticket opened, 3 or more tickets opened in the 7")
    assert explanation(event)["thresholds"] == {"min_tickets": 3, "factor": 3.0, "cooldown_days": 7}


def test_support_spike_window_is_the_seven_days_up_to_the_ticket() -> None:
    """(t-7d, t]: a ticket opened exactly seven days before is not in it."""
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0), opened("acme", 10, "T1"), opened("acme", 12, "T2"))
    assert spikes(run(acme, opened("acme", 17, "T3"))) == []  # T1 is 7 days old to the second
    assert spikes(run(acme, opened("acme", 17.5, "T4"))) == ["acme:support_spike:2026-09-18"]


def test_support_spike_against_the_usual_week() -> None:
    """12 tickets in the 12 weeks before are a usual week of 1: three are a spike (3 x 1);
    13 make the usual week 1.08, and three are not."""
    for baseline, fires_at in ((12, 3), (13, 4)):
        acme = AccountState("acme", 0)
        run(acme, login("acme", "u1", 0))
        run(acme, *(opened("acme", 1 + i * 6.5, f"B{i}") for i in range(baseline)))
        start = 87.0  # the last baseline ticket (day 79 at most) is more than 7 days before
        fired = [spikes(run(acme, opened("acme", start + n * 0.1, f"S{n}"))) for n in range(4)]
        assert [bool(f) for f in fired] == [n + 1 == fires_at for n in range(4)], baseline


def test_support_spike_cools_down_for_seven_days_of_event_time() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0))
    first = run(acme, *(opened("acme", 10 + n * 0.1, f"T{n}") for n in range(3)))
    assert spikes(first) == ["acme:support_spike:2026-09-11"]
    later = [spikes(run(acme, opened("acme", day, f"L{day}"))) for day in (11, 16.9, 17.3)]
    # 16.9 is within 7 days of the firing (day 10.2); 17.3 is past them, and still a spike.
    assert later == [[], [], ["acme:support_spike:2026-09-18"]]


def test_support_spike_follows_the_tiers_threshold() -> None:
    card = parse(b'tiers:\n  "1": {rules: {support_spike: {min_tickets: 5}}}\n', "t.yaml")
    tickets = [opened("acme", 10 + n * 0.1, f"T{n}") for n in range(4)]
    big, small = AccountState("acme", 0), AccountState("acme", 0)
    run(big, account_record("acme", tier=1), login("acme", "u1", 0), card=card)
    run(small, account_record("acme", tier=2), login("acme", "u1", 0), card=card)
    assert spikes(run(big, *tickets, card=card)) == []
    assert spikes(run(small, *tickets, card=card)) == ["acme:support_spike:2026-09-11"]
