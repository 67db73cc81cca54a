"""What a send carries: one delivery ready to go, or a group's bundle of them to one
recipient (grouping.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.alerts.leases import Claimed
from services.alerts.models import Account
from services.alerts.senders import Attempt, DeliveryError, GroupSender, Sender
from shared.contracts.triggers import TriggerEvent


@dataclass(frozen=True)
class Ready:
    """A delivery ready to go: what, to whom, as which try."""

    row: Claimed
    trigger: TriggerEvent
    account: Account
    recipient: str
    attempt: Attempt


def by_recipient(ready: list[Ready]) -> list[list[Ready]]:
    """A group's deliveries by recipient: a group spanning accounts (group_by without
    account_id) may reach several CSMs."""
    bundles: dict[str, list[Ready]] = {}
    for item in ready:
        bundles.setdefault(item.recipient, []).append(item)
    return list(bundles.values())


def group_attempt(bundle: Sequence[Ready]) -> Attempt:
    """The try of a group's message: a retry if any of its rows was tried before, looking
    back to the oldest."""
    first = bundle[0].attempt
    return Attempt(
        max(item.attempt.number for item in bundle),
        min(item.attempt.since for item in bundle),
        first.receiver,
    )


def as_group(sender: Sender) -> GroupSender:
    if not isinstance(sender, GroupSender):  # grouping.py groups only channels that can
        raise DeliveryError(f"the {sender.channel} channel cannot send a group", permanent=True)
    return sender
