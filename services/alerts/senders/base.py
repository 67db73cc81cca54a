"""The interface every channel implements, and how a sender reports a failed send."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from services.alerts.models import Account
from services.alerts.notices import ALERT
from services.alerts.routing.model import CSM_RECEIVER
from shared.contracts.triggers import TriggerEvent


@dataclass(frozen=True)
class Attempt:
    """Which try of a delivery this is. On a retry an earlier try may have reached the
    receiver without the worker learning it (a timeout, a crash between the receiver's answer
    and the outcome being stored); a sender that can look for it starts at `since`."""

    number: int  # 1 for the first try
    since: datetime  # when the delivery was created: nothing sent for it is older
    # Whose delivery it is: one alert may go to several receivers on one channel, and a
    # sender that looks for an earlier try must find this receiver's.
    receiver: str = CSM_RECEIVER
    # What is sent (services/alerts/notices.py): the alert, or a notice following it.
    notice: str = ALERT
    # A follow-up in Slack: the ts of the alert's message (a resolved notice goes to its
    # thread, an update edits it) and its conversation, when the alert's post gave one.
    thread: str | None = None
    conversation: str | None = None
    # What the notice adds: an escalation's reason, who acknowledged or snoozed the alert.
    note: str | None = None

    @property
    def is_retry(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class Receipt:
    """Where the receiver keeps a message sent: Slack's ts and conversation id."""

    ts: str
    conversation: str | None = None


class DeliveryError(Exception):
    """A send that did not go through.

    `permanent` means retrying cannot help (a wrong channel, a refused address): the delivery
    fails at once instead of retrying for hours. `retry_after` is the receiver's own wish for
    when to try again (Slack's Retry-After), used instead of the backoff schedule. A send put
    off before it was tried (`counts` false: paced) does not count towards giving up.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        counts: bool = True,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.counts = counts


class Sender(Protocol):
    channel: str
    # Why an account has no recipient on this channel; stored on a skipped delivery.
    no_recipient: str
    # Sends under way at once on this channel, per worker.
    max_in_flight: int

    def recipient(self, account: Account) -> str | None:
        """Who gets this account's alerts on this channel, or None when nobody does."""

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """Deliver one notice of a trigger (attempt.notice: the alert, its escalation, its
        resolved notice...); the receiver's id of the message (Slack's), if any. Raise
        DeliveryError (or anything else: retried) on failure."""


@runtime_checkable
class GroupSender(Sender, Protocol):
    """A channel that can send a group's alerts in one message (grouping.py)."""

    async def send_group(
        self, alerts: Sequence[tuple[TriggerEvent, Account]], recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """Deliver the alerts, oldest first, in one message."""


@runtime_checkable
class LooksBack(Sender, Protocol):
    """A channel that can tell whether an earlier attempt's message reached the receiver."""

    async def sent_before(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """Where the receiver keeps this notice, if an earlier attempt sent it; else None.
        Raise DeliveryError when the receiver cannot be asked now."""


def retry_after_of(response: httpx.Response) -> float | None:
    """The receiver's Retry-After, in seconds (None when it gives none we can read)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None
