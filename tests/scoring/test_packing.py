"""An account kept packed a while, evicted or stored (to_json, pack_account, unpack_account,
from_json) goes on exactly as if it had stayed decoded; its event time is read without unpacking
it; and a packed blob stays readable (its dictionary never changes)."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pytest

from harness.signals import account_record, at, login, stakeholder
from services.scoring.accounts.apply import apply_signal, card_of, refresh_health
from services.scoring.accounts.packing import (
    DICTIONARY_1,
    pack_account,
    pack_document,
    packed_time,
    packed_times,
    times_of,
    unpack_account,
    unpack_document,
)
from services.scoring.accounts.state import AccountState, DedupWindow, is_explained
from services.scoring.scorecard.loading import load

RULES = load(None)


def run(state: AccountState, *signals: dict[str, Any]) -> None:
    for signal in signals:
        apply_signal(state, signal, RULES, DedupWindow(3600.0), arrived=0.0)


def stored_copy(state: AccountState) -> AccountState:
    """The account as a restart (or an eviction) gives it back."""
    return unpack_account(state.account_id, 0, pack_account(state))


def test_a_stored_account_goes_on_as_if_it_had_stayed_decoded() -> None:
    """A person's unknown fields keep their place: the title filled in later sits before the
    role, in memory as in every blob after."""
    acme = AccountState("acme", 0)
    run(acme, stakeholder("acme", "dana@acme.com", role="champion"))
    stored = stored_copy(acme)
    later = login("acme", "u1", 0, email="dana@acme.com", title="VP")
    for state in (acme, stored):
        run(state, later)
    assert stored.to_json() == acme.to_json()
    assert list(stored.people.values()) == list(acme.people.values())


def test_identifiers_a_merge_left_behind_survive_storing() -> None:
    """u2 merges into the person who is u1 by email: u2 then names that person, though the
    person's user_id stays u1. Rebuilt from the people alone, u2 would be someone new."""
    acme = AccountState("acme", 0)
    run(
        acme,
        login("acme", "u1", 0, email="dana@acme.com"),
        login("acme", "u2", 0),
        login("acme", "u2", 0, email="dana@acme.com"),
    )
    stored = stored_copy(acme)
    later = login("acme", "u2", 1)
    for state in (acme, stored):
        run(state, later)
    assert len(acme.people) == len(stored.people) == 1
    assert stored.to_json() == acme.to_json() and stored.by_user == acme.by_user


def test_stale_health_survives_storing() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0), login("acme", "u1", 0.1))  # the second one is quiet
    assert acme.health_stale
    stored = stored_copy(acme)
    assert stored.health_stale
    for state in (acme, stored):
        refresh_health(state, card_of(state, RULES))  # as before its row is built
    assert stored.health == acme.health


def test_health_is_stored_without_its_explanations_and_computed_again() -> None:
    """The health column holds each component's why and inputs; the stored state keeps only
    the numbers, and the explanations come back, the same, before the next row is built."""
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 0))
    stored = stored_copy(acme)
    assert is_explained(acme.health) and not is_explained(stored.health)
    assert stored.health["score"] == acme.health["score"]
    assert stored.health["band"] == acme.health["band"]
    assert b'"why"' not in stored.to_json()
    refresh_health(stored, card_of(stored, RULES))
    assert stored.health == acme.health


def test_the_times_are_read_without_unpacking() -> None:
    acme = AccountState("acme", 0)
    record = account_record("acme", {"api_calls": 10}, start_date="2026-09-01")
    run(acme, record, login("acme", "u1", 2.5))
    acme.advance(at(3))  # the tick moved the clock
    blob = pack_document(times_of(acme), acme.to_json())
    assert packed_time(blob) == acme.now == at(3)
    assert packed_times(blob) == (at(3), at(2.5), at(0) - 9 * 3600, False)
    assert unpack_document(blob) == acme.to_json()


def test_a_version_1_blob_is_read_with_its_clock_alone() -> None:
    acme = AccountState("acme", 0)
    run(acme, login("acme", "u1", 2.5))
    version_1 = b"\x01" + struct.pack("<d", acme.now) + pack_account(acme)[26:]
    assert packed_time(version_1) == at(2.5) and packed_times(version_1) is None
    assert unpack_account("acme", 0, version_1).to_json() == acme.to_json()


def test_a_blob_of_an_unknown_version_is_refused_by_name() -> None:
    blob = pack_document(times_of(AccountState("acme", 0)), b"{}")
    with pytest.raises(ValueError, match="unknown packed account version 3"):
        unpack_document(b"\x03" + blob[1:])
    with pytest.raises(ValueError, match="unknown packed account version None"):
        unpack_document(b"")


def test_the_first_dictionary_never_changes() -> None:
    """Every stored account packed with it needs it byte for byte to be read again: a change
    goes into a new dictionary under a new version byte."""
    digest = hashlib.sha256(DICTIONARY_1).hexdigest()
    assert digest == "f042ecb86aa134d1387ec836475d6be37a12b2dd42fcca9bba1287104bb0f67e"
