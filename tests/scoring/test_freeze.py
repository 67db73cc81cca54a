"""An account kept as bytes a while (freeze, thaw) goes on exactly as if it had stayed
decoded; and its event time can be read from a stored blob without decoding it."""

from __future__ import annotations

from typing import Any

from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, now_of
from shared.config import RuleSettings
from tests.scoring.factories import account_record, at, login, stakeholder

RULES = RuleSettings()


def run(state: AccountState, *signals: dict[str, Any]) -> None:
    for signal in signals:
        apply_signal(state, signal, RULES, dedup_window=50)


def stored_copy(state: AccountState) -> AccountState:
    return AccountState.from_bytes(state.account_id, 0, state.to_bytes(), state.health)


def frozen_copy(state: AccountState) -> AccountState:
    return AccountState.thaw(state.account_id, 0, state.freeze())


def test_a_frozen_account_goes_on_as_if_it_had_stayed_decoded() -> None:
    """What stored bytes lose and freeze() keeps. A person's unknown fields: the title filled
    in later sits before the role in memory, after it in a state read back from storage."""
    acme = AccountState("acme", 0)
    run(acme, stakeholder("acme", "dana@acme.com", role="champion"))
    stored, frozen = stored_copy(acme), frozen_copy(acme)
    later = login("acme", "u1", 0, email="dana@acme.com", title="VP")
    for state in (acme, stored, frozen):
        run(state, later)
    assert frozen.to_bytes() == acme.to_bytes()
    assert stored.to_bytes() != acme.to_bytes()


def test_identifiers_a_merge_left_behind_survive_freezing() -> None:
    """u2 merges into the person who is u1 by email: u2 then names that person, though the
    person's user_id stays u1. Read back from storage, u2 would be someone new."""
    acme = AccountState("acme", 0)
    run(
        acme,
        login("acme", "u1", 0, email="dana@acme.com"),
        login("acme", "u2", 0),
        login("acme", "u2", 0, email="dana@acme.com"),
    )
    stored, frozen = stored_copy(acme), frozen_copy(acme)
    later = login("acme", "u2", 1)
    for state in (acme, stored, frozen):
        run(state, later)
    assert len(acme.people) == len(frozen.people) == 1
    assert frozen.to_bytes() == acme.to_bytes() and frozen.by_user == acme.by_user
    assert len(stored.people) == 2


def test_stale_health_survives_freezing() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0), login("acme", "u1", 0.1))  # the second one is quiet
    assert acme.health_stale
    frozen = frozen_copy(acme)
    assert frozen.health_stale and frozen.health == acme.health


def test_the_event_time_is_read_from_a_stored_blob_without_decoding_it() -> None:
    acme = AccountState("acme", 0)
    assert now_of(acme.to_bytes()) == 0.0  # no profile, no event
    # A profile with a "now" of its own (a metric named so) and a comma-rich name.
    run(acme, account_record("acme", {"now": 5.0, "api_calls": 10}, name='A, "now":1,'))
    run(acme, login("acme", "u1", 2.5))
    assert now_of(acme.to_bytes()) == acme.now == at(2.5)
    assert now_of(b'{"now":7.5,"profile":null}') == 7.5  # another layout: decoded
