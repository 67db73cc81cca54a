"""The scoring core as pure functions: state, health and the three v1 trigger rules."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, cast

from harness.signals import account_record, login, stakeholder, support, usage
from services.scoring.accounts.apply import apply_signal, refresh_health
from services.scoring.accounts.packing import pack_account, unpack_account
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.accounts.views import usage_view
from services.scoring.scorecard.loading import load
from services.scoring.triggers.rules import trigger_id_of
from shared.contracts.signals import Signal

RULES = load(None)
DEDUP = DedupWindow(86400.0)


def run(
    state: AccountState, *signals: dict[str, Any], skip_quiet: bool = True
) -> list[dict[str, Any]]:
    """The trigger events the signals fire, as published on cs.triggers."""
    fired = []
    for signal in signals:
        events = apply_signal(
            state, cast(Signal, signal), RULES, DEDUP, arrived=0.0, skip_quiet=skip_quiet
        )
        fired += [event.model_dump(mode="json") for event in events]
    return fired


def types(fired: list[dict[str, Any]]) -> list[str]:
    return [t["type"] for t in fired]


def resolved(fired: list[dict[str, Any]]) -> list[str]:
    """The dedup_keys of the episodes that ended (resolved events), in order."""
    return [t["dedup_key"] for t in fired if t["status"] == "resolved"]


def test_plan_limit_fires_once_at_80_percent_and_again_next_period() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 100_000}, name="Acme Corp"))
    assert run(acme, usage("acme", 0, metric="api_calls", value=79_000)) == []
    fired = run(acme, usage("acme", 1, metric="api_calls", value=3_000))
    assert types(fired) == ["plan_limit_80"]
    trigger = fired[0]
    assert trigger["dedup_key"] == "acme:plan_limit_80:api_calls:2026-09"
    assert trigger["details"] == {
        "metric": "api_calls",
        "used": 82_000,
        "limit": 100_000,
        "ratio": 0.82,
        "period": "2026-09",
        "fire_ratio": 0.8,
        "rearm_ratio": 0.7,
        "expansion_gated": True,  # no feature used: adoption first
    }
    assert trigger["summary"] == "Acme Corp used 82% of api_calls (82,000 of 100,000) this month"
    assert trigger["health"]["band"] in ("green", "yellow", "red")
    # Still over the line: no second alert in the same episode.
    assert "plan_limit_80" not in types(
        run(acme, usage("acme", 2, metric="api_calls", value=9_000))
    )
    # October starts from zero; crossing again is a new episode with its own key.
    run(acme, usage("acme", 30, metric="api_calls", value=10))
    fired = run(acme, usage("acme", 31, metric="api_calls", value=85_000))
    assert [t["dedup_key"] for t in fired if t["type"] == "plan_limit_80"] == [
        "acme:plan_limit_80:api_calls:2026-10"
    ]


def test_plan_limit_rearms_only_below_70_percent() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"storage_gb": 100}))
    assert types(run(acme, usage("acme", 0, metric="storage_gb", value=85, mode="absolute"))) == [
        "plan_limit_80"
    ]
    assert run(acme, usage("acme", 1, metric="storage_gb", value=75, mode="absolute")) == []
    assert run(acme, usage("acme", 2, metric="storage_gb", value=90, mode="absolute")) == []
    ended = run(acme, usage("acme", 3, metric="storage_gb", value=60, mode="absolute"))
    assert resolved(ended) == ["acme:plan_limit_80:storage_gb:2026-09"]
    assert ended[0]["resolved_at"] == "2026-09-04T09:00:00Z"  # the reading that ended it
    assert ended[0]["trigger_id"] == trigger_id_of("acme:plan_limit_80:storage_gb:2026-09")
    # Re-armed, but the same period's dedup_key was used: the store keeps it once.
    fired = run(acme, usage("acme", 4, metric="storage_gb", value=95, mode="absolute"))
    assert [t["dedup_key"] for t in fired] == ["acme:plan_limit_80:storage_gb:2026-09"]


def test_seats_count_distinct_users_unless_a_gauge_is_sent() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"seats": 5}))
    fired = run(acme, *(login("acme", f"user-{i}", 0.1 * i) for i in range(4)))
    assert "plan_limit_80" in types(fired)
    assert fired[0]["details"]["used"] == 4
    assert usage_view(acme, acme.now)["seats"]["used"] == 4
    run(acme, usage("acme", 1, metric="seats", value=2, mode="absolute"))
    assert usage_view(acme, acme.now)["seats"] == {
        "used": 2,
        "limit": 5,
        "ratio": 0.4,
        "period": "2026-09",
    }


def test_redelivered_event_id_changes_nothing() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 1000}))
    event = usage("acme", 0, metric="api_calls", value=500)
    run(acme, event)
    before = acme.to_json()
    assert run(acme, event, event) == []
    assert acme.to_json() == before


# Onboarded a month before the stories below start: past single_threaded's grace fortnight.
ONBOARDED = {"start_date": "2026-08-01"}


def test_single_threaded_is_pending_for_seven_days_of_event_time() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", **ONBOARDED))
    assert run(acme, login("acme", "u1", 0)) == []  # a first login is not an alert
    assert "single_threaded" not in types(run(acme, *(login("acme", "u1", d) for d in range(1, 7))))
    fired = run(acme, login("acme", "u1", 7))
    assert types(fired) == ["single_threaded"]
    assert fired[0]["dedup_key"] == "acme:single_threaded:2026-09-01"
    assert fired[0]["details"]["engaged"] == 1
    assert run(acme, login("acme", "u1", 8)) == []  # still the same episode


def test_a_new_account_gets_a_fortnight_before_it_is_judged_single_threaded() -> None:
    acme = AccountState("acme", 0)
    daily = [types(run(acme, login("acme", "u1", d))) for d in range(21)]
    assert not any("single_threaded" in fired for fired in daily)  # days 0..20
    fired = run(acme, login("acme", "u1", 21))  # pending from day 14, held 7 days
    assert [t["dedup_key"] for t in fired] == ["acme:single_threaded:2026-09-15"]
    # The record's start_date counts from its own day, even before the first login.
    late = AccountState("late", 0)
    run(late, account_record("late", start_date="2026-08-25"))
    # (Its onboarding missed every milestone: onboarding_stalled says so meanwhile.)
    assert "single_threaded" not in types(run(late, *(login("late", "u1", d) for d in range(14))))
    fired = run(late, login("late", "u1", 14))
    keys = [t["dedup_key"] for t in fired if t["type"] == "single_threaded"]
    assert keys == ["late:single_threaded:2026-09-08"]


def test_the_seats_fallback_does_not_count_people_who_left() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"seats": 10}))
    run(acme, *(login("acme", f"u{i}", 1, email=f"p{i}@acme.com") for i in range(3)))
    run(acme, stakeholder("acme", "p0@acme.com", status="left"))
    assert usage_view(acme, acme.now)["seats"]["used"] == 2


def test_a_limit_removed_from_the_plan_ends_its_episode() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 100}))
    assert types(run(acme, usage("acme", 1, metric="api_calls", value=90))) == ["plan_limit_80"]
    ended = run(acme, account_record("acme", {}))  # the plan has no api_calls limit any more
    assert resolved(ended) == ["acme:plan_limit_80:api_calls:2026-09"]
    assert "plan_limit_80" not in {t["type"] for t in acme.rules.get("active", {}).values()}


def test_single_threaded_clears_with_three_people_across_departments() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", **ONBOARDED))
    run(acme, login("acme", "u1", 0, department="ops"), login("acme", "u2", 1, department="ops"))
    run(acme, login("acme", "u3", 2, department="ops"))  # three, but one department
    fired = run(acme, login("acme", "u1", 7.5, department="ops"))
    assert types(fired) == ["single_threaded"]
    assert "all 3 engaged stakeholders in ops" in fired[0]["summary"]
    ended = run(acme, login("acme", "u4", 8, department="finance"))
    assert resolved(ended) == [fired[0]["dedup_key"]]
    assert (
        ended[0]["summary"] == fired[0]["summary"] and ended[0]["fired_at"] == fired[0]["fired_at"]
    )
    assert acme.rules["single_threaded"]["state"] == "inactive"
    assert "single_threaded" not in {t["type"] for t in acme.rules["active"].values()}


def test_people_who_left_are_not_engaged_and_email_matches_case_insensitively() -> None:
    acme = AccountState("acme", 0)
    run(acme, stakeholder("acme", "dana@acme.com", role="champion"))
    run(acme, login("acme", "u17", 0, email="dana@acme.com"))
    assert len(acme.people) == 1
    person = next(iter(acme.people.values()))
    assert person["role"] == "champion" and person["user_id"] == "u17"
    run(acme, stakeholder("acme", "dana@acme.com", role="champion", status="left"))
    assert acme.health["components"]["engagement"]["score"] == 0


def test_new_account_is_not_red_but_an_abandoned_one_is() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0))
    assert acme.health["band"] != "red"
    run(acme, *(login("acme", f"u{i}", d) for d in range(0, 20) for i in range(3)))
    assert acme.health["band"] == "green"
    # A month of silence, then urgent tickets: the first event of the new month finds it red.
    fired = run(acme, support("acme", 50, "T1", "opened", priority="urgent"))
    assert types(fired) == ["health_red"]
    red = fired[0]
    assert red["dedup_key"] == "acme:health_red:2026-10-21"
    assert red["severity"] == "critical" and red["health"]["band"] == "red"
    assert red["details"]["weakest"] == ["activity", "engagement"]  # both 0, by name
    # Still red on the next events: the same episode, nothing new.
    assert run(acme, support("acme", 50, "T2", "opened", priority="urgent")) == []
    assert run(acme, login("acme", "u1", 55)) == []
    components = acme.health["components"]
    assert set(components) == {
        "adoption",
        "engagement",
        "activity",
        "relationship",
        "support",
        "sentiment",
    }
    assert all(c["why"] for c in components.values())


def test_state_survives_a_round_trip_through_storage() -> None:
    acme = AccountState("acme", 3)
    run(
        acme,
        account_record("acme", {"api_calls": 100}),
        login("acme", "u1", 0, email="a@acme.com"),
        usage("acme", 1, metric="api_calls", value=90, user_id="u2", feature="export"),
        support("acme", 2, "T1", "opened", csat=4),
    )
    copy = unpack_account("acme", 3, pack_account(acme))
    assert copy.to_json() == acme.to_json()
    refresh_health(copy, RULES.top)  # the explanations, kept only in memory, computed again
    assert copy.health == acme.health
    assert copy.people == acme.people
    assert copy.by_email == acme.by_email and copy.by_user == acme.by_user


def test_an_account_whose_first_event_is_a_ticket_is_not_red() -> None:
    acme = AccountState("acme", 0)
    assert run(acme, support("acme", 0, "T1", "opened", priority="urgent")) == []
    assert acme.health["band"] == "green"
    assert acme.health["components"]["engagement"]["score"] is None
    run(acme, account_record("acme"))
    assert acme.health["band"] == "green"  # a record alone is no evidence of trouble


def test_a_redelivered_record_does_not_undo_a_later_one() -> None:
    acme = AccountState("acme", 0)
    old = account_record("acme", name="Old name")
    run(acme, old, account_record("acme", name="New name"))
    run(acme, old)  # the same message read again after a restart upstream
    assert acme.name == "New name"


def test_a_plan_limit_episode_ends_with_its_period() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 100}))
    run(acme, usage("acme", 0, metric="api_calls", value=90))
    assert [t["type"] for t in acme.rules["active"].values()] == ["plan_limit_80"]
    run(acme, usage("acme", 31, metric="api_calls", value=1))  # October begins
    assert "plan_limit_80" not in [t["type"] for t in acme.rules["active"].values()]


def test_a_trigger_carries_the_health_after_its_event() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", {"api_calls": 100}))
    [fired] = run(acme, usage("acme", 0, metric="api_calls", value=90, user_id="u1"))
    assert fired["health"] == {"score": acme.health["score"], "band": acme.health["band"]}
    assert acme.health["components"]["engagement"]["score"] == 33  # u1 counted


def test_a_ticket_update_without_priority_keeps_it() -> None:
    acme = AccountState("acme", 0)
    run(acme, support("acme", 0, "T1", "opened", priority="urgent"))
    run(acme, support("acme", 1, "T1", "updated"))
    assert acme.tickets["T1"]["priority"] == "urgent"
    run(acme, support("acme", 2, "T1", "solved", csat=2))
    assert acme.tickets["T1"]["status"] == "closed"


def _random_stream(seed: int) -> list[dict[str, Any]]:
    """Ninety days of a small account's life, arriving partly out of order: a single-threaded
    start, a busy middle, a slide into red with urgent tickets, and a recovery."""
    rng = random.Random(seed)
    record = account_record(
        "acme", {"api_calls": 5000, "seats": 4}, start_date="2026-09-01", renewal_date="2026-12-20"
    )
    signals: list[dict[str, Any]] = [record]
    # (first day, last day, people, share of urgent tickets, events per day)
    phases = [(0, 20, 2, 0.05, 8), (20, 45, 6, 0.05, 8), (45, 75, 1, 0.9, 0.6), (75, 90, 5, 0.1, 8)]
    for start, end, people, urgent, per_day in phases:
        for _ in range(int((end - start) * per_day * rng.uniform(0.5, 1.5))):
            day = rng.uniform(start, end)
            roll = rng.random()
            user = f"u{rng.randrange(people)}"
            if roll < 0.5:
                signals.append(
                    usage(
                        "acme",
                        day,
                        user_id=user,
                        metric="api_calls",
                        value=rng.choice([10, 50, 200]),
                        feature=rng.choice(["a", "b", "c", None]),
                    )
                )
            elif roll < 0.85:
                department = rng.choice(["ops", None])
                email = f"{user}@acme.com"
                signals.append(login("acme", user, day, department=department, email=email))
            elif roll < (0.97 if per_day > 1 else 0.9):
                priority = "urgent" if rng.random() < urgent else rng.choice(["high", "low"])
                signals.append(
                    support(
                        "acme",
                        day,
                        f"T{rng.randrange(5)}",
                        rng.choice(["opened", "solved", "updated"]),
                        priority=priority,
                    )
                )
            else:
                signals.append(
                    stakeholder(
                        "acme",
                        f"{user}@acme.com",
                        status=rng.choice(["active", "left"]),
                        role=rng.choice(["champion", "executive_sponsor", "user"]),
                    )
                )
    signals.sort(key=lambda s: s.get("ts", 0) + rng.uniform(-2 * 86400, 0.5 * 86400))
    return [{k: v for k, v in s.items() if v is not None} for s in signals]


def test_skipping_quiet_events_gives_exactly_what_evaluating_every_event_gives() -> None:
    fired_types: Counter[str] = Counter()
    for seed in range(30):
        stream = _random_stream(seed)
        quick = AccountState("acme", 0)
        quick_fired = run(quick, *stream)
        refresh_health(quick, RULES.top)
        full = AccountState("acme", 0)
        full_fired = run(full, *stream, skip_quiet=False)
        assert quick_fired == full_fired, seed
        assert quick.health == full.health, seed
        assert quick.rules == full.rules, seed
        fired_types.update(t["type"] for t in full_fired)
    # The streams exercise every rule, so the comparison means something.
    assert set(fired_types) == {
        "plan_limit_80",
        "plan_limit_100",
        "single_threaded",
        "health_red",
        "champion_quiet",
        "support_spike",
        "low_adoption",
        "usage_decline",
        "renewal_window",
        "renewal_at_risk",
        "onboarding_stalled",
        "seat_growth",
        "expansion_ready",
    }
