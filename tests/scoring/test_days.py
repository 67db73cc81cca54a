"""low_adoption and usage_decline (triggers/days.py) at their edges, against the pure rules:
under, at and over each threshold, the episode's end, a late event, a tier override."""

from __future__ import annotations

from typing import Any

from harness.signals import account_record, login, usage
from services.scoring.accounts.state import AccountState
from services.scoring.scorecard.loading import parse
from services.scoring.triggers.explain import condition
from shared.contracts.triggers import TriggerEvent
from tests.helpers.rules import of, run

STARTED = {"start_date": "2026-09-01"}  # harness.signals' day 0


def keys(fired: list[Any], kind: str, status: str = "firing") -> list[str]:
    return [t["dedup_key"] for t in of(fired, kind, status)]


def feature_days(account: str, features: list[str], days: range) -> list[dict[str, Any]]:
    """u1 uses each feature on each day."""
    return [usage(account, d, user_id="u1", feature=f) for d in days for f in features]


def test_low_adoption_from_the_thirtieth_day_with_fewer_than_three_core_features() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", **STARTED))
    assert keys(run(acme, *feature_days("acme", ["a", "b"], range(0, 30))), "low_adoption") == []
    fired = run(acme, usage("acme", 30, user_id="u1", feature="a"))
    assert keys(fired, "low_adoption") == ["acme:low_adoption:2026-10-01"]
    [trigger] = [t for t in fired if t["type"] == "low_adoption"]
    assert trigger["category"] == "risk" and trigger["severity"] == "warning"
    assert trigger["details"]["core_features_used"] == 2
    assert trigger["summary"] == "Acme used 2 core features in the last 30 days (fewer than 3)"
    assert condition(TriggerEvent.model_validate(trigger)).startswith("fewer than 3 distinct")
    assert "low_adoption" in {t["type"] for t in acme.rules["active"].values()}
    # Still two the next day: the same episode, nothing new.
    assert run(acme, usage("acme", 31, user_id="u1", feature="b")) == []
    # A third core feature ends it, once.
    ended = run(acme, usage("acme", 31.5, user_id="u1", feature="c"))
    assert keys(ended, "low_adoption", "resolved") == ["acme:low_adoption:2026-10-01"]
    assert "low_adoption" not in {t["type"] for t in acme.rules["active"].values()}


def test_low_adoption_not_with_three_core_features_and_only_core_ones_count() -> None:
    card = parse(b"core_features: ['reports.*', workflows]\n", "core.yaml")
    used = AccountState("acme", 0)
    run(used, account_record("acme", **STARTED), card=card)
    three = feature_days("acme", ["reports.export", "reports.view", "workflows"], range(0, 31))
    assert keys(run(used, *three, card=card), "low_adoption") == []
    other = AccountState("beta", 0)
    run(other, account_record("beta", **STARTED), card=card)
    many = feature_days("beta", ["reports.export", "chat", "search", "tags"], range(0, 31))
    assert keys(run(other, *many, card=card), "low_adoption") == ["beta:low_adoption:2026-10-01"]


def test_low_adoption_does_not_judge_an_account_that_reports_no_feature() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", **STARTED))
    fired = run(acme, *(login("acme", "u1", d) for d in range(0, 40)))
    assert keys(fired, "low_adoption") == []
    assert acme.health["components"]["adoption"]["score"] is None


def test_low_adoption_follows_the_tiers_minimum() -> None:
    card = parse(b'tiers:\n  "3": {rules: {low_adoption: {min_core_features: 1}}}\n', "t.yaml")
    small = AccountState("acme", 0)
    run(small, account_record("acme", tier=3, **STARTED), card=card)
    fired = run(small, *feature_days("acme", ["a"], range(0, 31)), card=card)
    assert keys(fired, "low_adoption") == []


def logins(account: str, per_day: int, days: range) -> list[dict[str, Any]]:
    return [login(account, f"u{i}", d + i / 100) for d in days for i in range(per_day)]


def declining(recent_per_day: list[int]) -> tuple[AccountState, list[Any]]:
    """Two logins a day on days 0..27 (a usual fortnight of 28), then the given logins a day
    from day 28, and a login on day 42: the account and what fired from day 28 on."""
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", **STARTED), *logins("acme", 2, range(0, 28)))
    fired = []
    for offset, count in enumerate(recent_per_day):
        fired += run(acme, *logins("acme", count, range(28 + offset, 29 + offset)))
    return acme, fired + run(acme, login("acme", "u0", 42))


def test_usage_decline_at_thirty_percent_below_the_usual_fortnight() -> None:
    # On day 42, 28 x (1 - 0.3) = 19.6: 19 events fire, 20 do not.
    _, fired = declining([2] * 5 + [1] * 9)  # 19
    assert keys(fired, "usage_decline") == ["acme:usage_decline:2026-10-13"]
    [trigger] = [t for t in fired if t["type"] == "usage_decline"]
    assert trigger["details"]["recent"] == 19 and trigger["details"]["baseline"] == 28
    assert trigger["summary"] == (
        "Acme's activity fell 32% over the last two weeks (19 events, against 28 in a usual "
        "fortnight)"
    )
    assert condition(TriggerEvent.model_validate(trigger)).startswith("the logins and usage events")
    _, fired = declining([2] * 6 + [1] * 8)  # 20
    assert keys(fired, "usage_decline") == []


def test_usage_decline_needs_a_baseline_of_twenty() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", **STARTED))
    run(acme, *logins("acme", 1, range(0, 28)), *logins("acme", 1, range(28, 42, 7)))
    assert keys(run(acme, login("acme", "u0", 42)), "usage_decline") == []  # baseline 14


def test_usage_decline_ends_back_at_85_percent_and_a_late_event_counts_at_once() -> None:
    """One login a day from day 28: on day 39, 17 events against 25 (at most 17.5). On day
    42 (14 against 28), a dozen late logins for days 30..41 make 26, over 28 x 0.85 = 23.8:
    the episode ends that day, not the next."""
    acme, fired = declining([1] * 14)
    assert keys(fired, "usage_decline") == ["acme:usage_decline:2026-10-10"]
    late = [login("acme", "u7", day) for day in range(30, 42)]
    ended = run(acme, *late)
    assert keys(ended, "usage_decline", "resolved") == ["acme:usage_decline:2026-10-10"]
    assert ended[-1]["resolved_at"] == "2026-10-13T09:00:00Z"  # the clock: day 42


def habit(account: str, people: list[str], days: list[int]) -> list[dict[str, Any]]:
    return [login(account, person, d + i / 100) for d in days for i, person in enumerate(people)]


WEEKLY_THEN_DAILY = [0, 4, 8, 12, *range(14, 29)]  # 4 of days 0..13, then every day


def test_login_frequency_up_when_three_people_go_from_weekly_to_daily() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", **STARTED))
    trio = ["u1", "u2", "u3"]
    fired = run(acme, *habit("acme", trio, WEEKLY_THEN_DAILY[:-1]))
    # By day 27 the habit has changed, but the first logins (day 0) are not yet 28 days old:
    # the start of their data is no change of habit.
    assert keys(fired, "login_frequency_up") == []
    fired = run(acme, *habit("acme", trio, [28]))
    assert keys(fired, "login_frequency_up") == ["acme:login_frequency_up:2026-09-29"]
    [trigger] = of(fired, "login_frequency_up")
    assert trigger["category"] == "expansion" and trigger["severity"] == "info"
    assert trigger["details"]["people"] == trio and trigger["details"]["expansion_gated"] is True
    assert trigger["summary"] == (
        "Acme: 3 people went from logging in weekly to daily over the last two weeks"
    )
    # Cooldown: the same habit a week later is not news.
    assert keys(run(acme, *habit("acme", trio, list(range(29, 58)))), "login_frequency_up") == []


def test_login_frequency_up_not_for_two_people_nor_for_a_habit_that_was_daily() -> None:
    pair = AccountState("pair", 0)
    run(pair, account_record("pair", **STARTED))
    fired = run(pair, *habit("pair", ["u1", "u2"], WEEKLY_THEN_DAILY))
    assert keys(fired, "login_frequency_up") == []
    daily = AccountState("daily", 0)
    run(daily, account_record("daily", **STARTED))
    fired = run(daily, *habit("daily", ["u1", "u2", "u3"], list(range(0, 29))))
    assert keys(fired, "login_frequency_up") == []


def test_seat_growth_when_three_more_people_are_active_than_in_the_30_days_before() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", **STARTED))
    run(acme, *habit("acme", ["u1", "u2"], list(range(0, 31))))
    fired = run(acme, *habit("acme", ["u1", "u2", "u3", "u4", "u5"], [31, 32]))
    # On day 32: days 2..31 had 5 active people, days -28..1 had 2.
    assert keys(fired, "seat_growth") == ["acme:seat_growth:2026-10-03"]
    [trigger] = of(fired, "seat_growth")
    assert trigger["details"]["active_people"] == 5 and trigger["details"]["before"] == 2
    assert trigger["summary"] == "Acme grew from 2 to 5 active people over the last 30 days"
    assert trigger["details"]["expansion_gated"] is True


def test_seat_growth_needs_three_more_and_a_fifth_more() -> None:
    two_more = AccountState("two", 0)
    run(two_more, account_record("two", **STARTED), *habit("two", ["u1", "u2"], list(range(31))))
    fired = run(two_more, *habit("two", ["u1", "u2", "u3", "u4"], [31, 32]))
    assert keys(fired, "seat_growth") == []
    big = AccountState("big", 0)
    twenty = [f"u{i}" for i in range(20)]
    run(big, account_record("big", **STARTED), *habit("big", twenty, list(range(31))))
    fired = run(big, *habit("big", [*twenty, "n1", "n2", "n3"], [31, 32]))  # 23 < 1.2 x 20
    assert keys(fired, "seat_growth") == []


def test_seat_growth_follows_the_tier_and_waits_out_its_cooldown() -> None:
    card = parse(b'tiers:\n  "1": {rules: {seat_growth: {min_added: 1, min_ratio: 1.0}}}\n', "t")
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", tier=1, **STARTED), card=card)
    run(acme, *habit("acme", ["u1", "u2"], list(range(31))), card=card)
    fired = run(acme, *habit("acme", ["u1", "u2", "u3"], [31, 32]), card=card)
    assert keys(fired, "seat_growth") == ["acme:seat_growth:2026-10-03"]
    # A fourth person a week later: growth again, but within the 30 days' cooldown.
    fired = run(acme, *habit("acme", ["u1", "u2", "u3", "u4"], list(range(38, 45))), card=card)
    assert keys(fired, "seat_growth") == []
    # Cooled down on 11-02 (day 62): four active against three the 30 days before.
    fired = run(acme, *habit("acme", ["u1", "u2", "u3", "u4"], [62]), card=card)
    assert keys(fired, "seat_growth") == ["acme:seat_growth:2026-11-02"]


def test_login_frequency_up_counts_logins_sent_out_of_order() -> None:
    acme = AccountState("acme", 0)
    run(acme, account_record("acme", name="Acme", **STARTED))
    trio = ["u1", "u2", "u3"]
    shuffled = habit("acme", trio, WEEKLY_THEN_DAILY[:-1])[::-1]  # newest first
    assert keys(run(acme, *shuffled), "login_frequency_up") == []
    fired = run(acme, *habit("acme", trio, [28]))
    assert keys(fired, "login_frequency_up") == ["acme:login_frequency_up:2026-09-29"]
