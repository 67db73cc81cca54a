"""champion_quiet (triggers/relationship.py) against the pure rules: quiet for 21 days while
others are active, the episode's end at their next activity, a second episode, and the people
it does not watch."""

from __future__ import annotations

from typing import Any

from harness.signals import account_record, login, stakeholder, support
from services.scoring.accounts.state import AccountState
from services.scoring.scorecard.loading import parse
from tests.helpers.rules import of, run


def keys(fired: list[Any], kind: str, status: str = "firing") -> list[str]:
    return [t["dedup_key"] for t in of(fired, kind, status)]


def team(role: str = "champion") -> AccountState:
    """Dana (the role given, with user_id dana) and two colleagues, all active on day 0."""
    acme = AccountState("acme", 0)
    run(
        acme,
        account_record("acme", name="Acme", start_date="2026-08-01"),
        stakeholder("acme", "dana@acme.com", name="Dana", role=role, status="active"),
        login("acme", "dana", 0, email="dana@acme.com"),
        login("acme", "sam", 0),
        login("acme", "kim", 0),
    )
    return acme


def others(days: range) -> list[dict[str, Any]]:
    return [login("acme", user, d) for d in days for user in ("sam", "kim")]


def test_champion_quiet_on_the_21st_day_without_activity_while_others_are_active() -> None:
    acme = team()
    assert keys(run(acme, *others(range(1, 21))), "champion_quiet") == []  # day 20
    fired = run(acme, *others(range(21, 22)))
    assert keys(fired, "champion_quiet") == ["acme:champion_quiet:dana@acme.com:2026-09-01"]
    [trigger] = of(fired, "champion_quiet")
    assert trigger["severity"] == "warning" and trigger["category"] == "risk"
    assert trigger["summary"] == (
        "Acme: Dana, the champion, has not used the product for 21 days while 2 others did"
    )
    assert trigger["details"]["last_active"] == "2026-09-01"
    assert any(t["type"] == "champion_quiet" for t in acme.rules["active"].values())
    assert keys(run(acme, *others(range(22, 25))), "champion_quiet") == []


def test_champion_quiet_ends_at_their_next_activity_and_can_begin_again() -> None:
    acme = team(role="executive_sponsor")
    run(acme, *others(range(1, 22)))
    ended = run(acme, login("acme", "dana", 23, email="dana@acme.com"))
    assert keys(ended, "champion_quiet", "resolved") == [
        "acme:champion_quiet:dana@acme.com:2026-09-01"
    ]
    assert not any(t["type"] == "champion_quiet" for t in acme.rules["active"].values())
    again = run(acme, *others(range(24, 45)))
    assert keys(again, "champion_quiet") == ["acme:champion_quiet:dana@acme.com:2026-09-24"]


def test_champion_quiet_not_while_everyone_is_quiet() -> None:
    acme = team()
    # A ticket moves the clock to day 30; no one has been active for 30 days.
    assert keys(run(acme, support("acme", 30, "t1", "opened")), "champion_quiet") == []
    # Sam's login on day 31 is someone else's activity: now Dana stands out.
    assert keys(run(acme, login("acme", "sam", 31)), "champion_quiet") == [
        "acme:champion_quiet:dana@acme.com:2026-09-01"
    ]


def test_champion_quiet_watches_key_roles_only_and_not_people_who_left() -> None:
    user = team(role="user")
    assert keys(run(user, *others(range(1, 30))), "champion_quiet") == []
    leaving = team()
    run(leaving, *others(range(1, 22)))
    gone = stakeholder("acme", "dana@acme.com", name="Dana", role="champion", status="left")
    fired = run(leaving, gone, *others(range(22, 23)))
    assert keys(fired, "champion_quiet", "resolved") == [
        "acme:champion_quiet:dana@acme.com:2026-09-01"
    ]
    assert keys(fired, "champion_left") == ["acme:champion_left:dana@acme.com"]


def test_champion_quiet_follows_the_tiers_quiet_days_and_a_late_login_ends_it() -> None:
    card = parse(b'tiers:\n  "1": {rules: {champion_quiet: {quiet_days: 10}}}\n', "t.yaml")
    acme = AccountState("acme", 0)
    run(
        acme,
        account_record("acme", name="Acme", tier=1, start_date="2026-08-01"),
        stakeholder("acme", "dana@acme.com", name="Dana", role="champion", status="active"),
        login("acme", "dana", 0, email="dana@acme.com"),
        card=card,
    )
    fired = run(acme, *others(range(1, 11)), card=card)
    assert keys(fired, "champion_quiet") == ["acme:champion_quiet:dana@acme.com:2026-09-01"]
    # A login of hers on day 5, sent late: she was not quiet after all; the episode ends.
    ended = run(acme, login("acme", "dana", 5, email="dana@acme.com"), card=card)
    assert keys(ended, "champion_quiet", "resolved") == [
        "acme:champion_quiet:dana@acme.com:2026-09-01"
    ]
