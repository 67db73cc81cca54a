"""From a trigger event to its deliveries: the labels its routes match, the receivers the
route tree picks, and one delivery per receiver and channel this service sends."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.alerts import grouping
from services.alerts.routing.matchers import Labels, match_all
from services.alerts.routing.model import ACCOUNT_CSM, Receiver, RoutingFile
from services.alerts.routing.tree import destinations
from shared.contracts.triggers import TriggerEvent

CONSOLE = "console"  # the channel of a service with neither Slack nor SMTP configured


@dataclass(frozen=True)
class Delivery:
    receiver: str
    channel: str
    target: str | None  # the receiver's channel or address; None: the account's CSM's
    # The alert's group on this channel (grouping.py; None: a group of its own) and the
    # route's timers.
    group_key: str | None = None
    group_wait: float = 0.0
    group_interval: float = 0.0


@dataclass(frozen=True)
class Escalation:
    delivery: Delivery
    after: float  # seconds without an acknowledgement before it goes


def labels_of(trigger: TriggerEvent) -> Labels:
    """What a matcher sees of a trigger: its type, category, severity, status, account_id,
    the account's tier and segment, the account's labels, and its dedup_key."""
    account = trigger.account
    labels = {str(k): str(v) for k, v in ((account.labels if account else None) or {}).items()}
    own = {
        "type": trigger.type,
        "category": trigger.category or "",
        "severity": trigger.severity,
        "status": trigger.status,
        "account_id": trigger.account_id,
        "tier": "" if account is None or account.tier is None else str(account.tier),
        "segment": (account.segment if account else None) or "",
        "dedup_key": trigger.dedup_key,
    }
    return {**labels, **{k: v for k, v in own.items() if v != ""}}


def deliveries_of(
    routing: RoutingFile, labels: Labels, channels: Collection[str]
) -> list[Delivery]:
    """One delivery per receiver a trigger with these labels (labels_of) routes to and
    channel of that receiver that is among `channels` (those this service sends)."""
    receivers = {receiver.name: receiver for receiver in routing.receivers}
    found = []
    for destination in destinations(routing.route, labels):
        for channel, target in _channels(receivers[destination.receiver]):
            if channel in channels:
                found.append(
                    Delivery(
                        destination.receiver,
                        channel,
                        target,
                        grouping.key_of(destination, labels, channel),
                        destination.group_wait,
                        destination.group_interval,
                    )
                )
        if CONSOLE in channels:  # nothing configured: each receiver's alerts are printed
            found.append(Delivery(destination.receiver, CONSOLE, None))
    return found


def escalations_of(
    routing: RoutingFile, labels: Labels, channels: Collection[str]
) -> list[Escalation]:
    """The escalations of an alert with these labels: per escalation whose matchers match, one
    delivery per channel of its receiver among `channels`, due `after` seconds unless the
    alert is acknowledged or resolved first. One receiver is escalated to once, at its
    first matching escalation."""
    receivers = {receiver.name: receiver for receiver in routing.receivers}
    found: dict[tuple[str, str], Escalation] = {}
    for escalation in routing.escalations:
        if not match_all(escalation.matchers, labels):
            continue
        receiver = receivers[escalation.receiver]
        for channel, target in _channels(receiver):
            if channel in channels:
                delivery = Delivery(receiver.name, channel, target)
                found.setdefault((receiver.name, channel), Escalation(delivery, escalation.after))
        if CONSOLE in channels:
            delivery = Delivery(receiver.name, CONSOLE, None)
            found.setdefault((receiver.name, CONSOLE), Escalation(delivery, escalation.after))
    return list(found.values())


def _channels(receiver: Receiver) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    if receiver.slack is not None:
        found.append(("slack", _fixed(receiver.slack.channel)))
    if receiver.email is not None:
        found.append(("email", _fixed(receiver.email.to)))
    if receiver.webhook is not None:
        found.append(("webhook", receiver.webhook.url))
    return found


def _fixed(target: str) -> str | None:
    return None if target == ACCOUNT_CSM else target
