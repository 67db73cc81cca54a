"""champion_quiet: a key person who stopped using the product while others go on. A pure
function, like rules.py.

An episode per person, from the day they reach quiet_days without activity to their next
activity event. Its dedup_key ends with the date of their last activity, so a champion who
comes back and goes quiet again is news again. The open episodes are kept in
state.rules["champion_quiet"] (email -> [dedup_key, day of last activity]), which
apply.is_quiet reads: a quiet champion's next event is always evaluated.

Days of activity come from each person's day mask, up to the day judged: behind the
watermark, an account may hold events of later days (accounts/watermark.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.scoring.accounts import daymask
from services.scoring.accounts.state import AccountState, Person
from services.scoring.accounts.time import DAY, date_of, day_of
from services.scoring.scorecard.model import Card
from services.scoring.triggers.rules import activate, end_episode, fire_news
from shared.contracts.triggers import TriggerEvent


def check_champion_quiet(
    state: AccountState, at: float, card: Card, keys: list[Person]
) -> list[TriggerEvent]:
    """`keys`: the people holding one of the rule's roles (roster(...).keys, found in the
    evaluation's one pass over the account's people)."""
    rule = card.rules.champion_quiet
    today = day_of(at)
    quiet: dict[str, list[Any]] = state.rules.get("champion_quiet", {})
    fired = _end_episodes(state, quiet, today, at, card) if quiet else []
    if not rule.enabled:
        return fired
    for person in keys:
        email = person["email"]
        last = last_active(person, today)
        if email in quiet or last is None or today - last < rule.quiet_days:
            continue
        others = _others_active(state, person, today - rule.others_active_days + 1, today)
        if not others:
            continue
        who = person.get("name") or email
        summary = (
            f"{state.name}: {who}, the {person['role'].replace('_', ' ')}, has not used the "
            f"product for {today - last} days while {others} other"
            f"{'' if others == 1 else 's'} did"
        )
        details = {
            "email": email,
            "name": person.get("name"),
            "role": person["role"],
            "last_active": day_date(last),
            "days_quiet": today - last,
            "others_active": others,
            "quiet_days": rule.quiet_days,
            "others_active_days": rule.others_active_days,
        }
        tail = f"{email}:{day_date(last)}"
        trigger = fire_news(state, card, "champion_quiet", tail, at, summary, details)
        quiet[email] = [trigger.dedup_key, last]
        fired.append(activate(state, trigger))
    if quiet:
        state.rules["champion_quiet"] = quiet
    return fired


def last_active(person: Person, today: int) -> int | None:
    """The person's last day with a login or usage, up to `today` (their day mask; their
    newest activity for a person recorded before masks were kept)."""
    if "act" in person:
        return daymask.last(person["act"], today)
    seen = person.get("last_seen", 0.0)
    return day_of(seen) if seen and day_of(seen) <= today else None


def day_date(day: int) -> str:
    return date_of(day * DAY)


def _is_key(person: Person, roles: Sequence[str]) -> bool:
    return bool(person.get("email")) and person.get("role") in roles and _stays(person)


def _stays(person: Person) -> bool:
    return person.get("status", "active") != "left"


def _others_active(state: AccountState, person: Person, first_day: int, today: int) -> int:
    """The other people with an activity event on days first_day..today."""
    return sum(
        1
        for other in state.people.values()
        if other is not person and (last_active(other, today) or -1) >= first_day
    )


def _end_episodes(
    state: AccountState, quiet: dict[str, list[Any]], today: int, at: float, card: Card
) -> list[TriggerEvent]:
    """An episode ends with the person's next activity event; one who left or lost the role
    is no longer watched, and their episode ends too."""
    ended = []
    roles = card.rules.champion_quiet.roles
    for email, (dedup_key, last) in list(quiet.items()):
        pid = state.by_email.get(email)
        person = state.people.get(pid) if pid else None
        back = person is not None and (last_active(person, today) or -1) > last
        if person is None or back or not _is_key(person, roles):
            del quiet[email]
            if trigger := end_episode(state, card, dedup_key, at):
                ended.append(trigger)
    if not quiet:
        state.rules.pop("champion_quiet", None)
    return ended
