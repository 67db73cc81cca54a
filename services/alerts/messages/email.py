"""An alert by email: plain text and HTML, rendered from the templates beside this module
(Jinja2; the HTML one escapes every value), with headers that make a resend the same message.
A group's alerts (grouping.py) go in one email. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from services.alerts.messages.text import (
    about,
    escalation_text,
    facts,
    links,
    message_id,
    title,
    worst_severity,
)
from services.alerts.models import Account
from services.alerts.notices import ALERT
from services.alerts.routing.model import CSM_RECEIVER
from shared.clock import as_utc
from shared.contracts.triggers import TriggerEvent

Shown = tuple[TriggerEvent, Account, str | None]  # an alert, its account, its page's link


def email_message(
    trigger: TriggerEvent,
    account: Account,
    *,
    sender: str,
    recipient: str,
    link: str | None,
    receiver: str = CSM_RECEIVER,
    notice: str = ALERT,
    note: str | None = None,
) -> EmailMessage:
    """The email of an alert, or of its escalation (`note` says why)."""
    escalated = escalation_text(note, notice)
    subject = f"[{trigger.severity.upper()}] {account.name}: {title(trigger)}"
    message = _envelope(
        f"[Escalated] {subject}" if escalated else subject,
        sender,
        recipient,
        trigger.fired_at,
        message_id(trigger.dedup_key, receiver, notice),
    )
    message["X-Pulse-Trigger-Type"] = _header(trigger.type)
    message["X-Pulse-Account-Id"] = _header(trigger.account_id)
    message["X-Pulse-Dedup-Key"] = _header(trigger.dedup_key)
    _fill(message, [_alert(trigger, account, link)], escalated)
    return message


def email_group(
    alerts: Sequence[Shown], *, sender: str, recipient: str, receiver: str = CSM_RECEIVER
) -> EmailMessage:
    """One email of a group's alerts, oldest first. The same alerts make the same message
    (its Message-ID comes from their dedup_keys)."""
    triggers = [trigger for trigger, _, _ in alerts]
    keys = [trigger.dedup_key for trigger in triggers]
    subject = (
        f"[{worst_severity(triggers).upper()}] {len(alerts)} alerts: "
        f"{about(account for _, account, _ in alerts)}"
    )
    message = _envelope(
        subject,
        sender,
        recipient,
        triggers[0].fired_at,
        message_id("\n".join(sorted(keys)), receiver, "group"),
    )
    message["X-Pulse-Dedup-Keys"] = _header(" ".join(keys))
    _fill(message, [_alert(*shown) for shown in alerts], None)
    return message


def _envelope(
    subject: str, sender: str, recipient: str, fired_at: datetime, identity: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _header(subject)
    message["From"] = sender
    message["To"] = recipient
    # Date and Message-ID come from the alerts, not the clock: a resend is the same message.
    message["Date"] = format_datetime(as_utc(fired_at))
    message["Message-ID"] = identity
    return message


def _fill(message: EmailMessage, alerts: list[dict[str, Any]], escalated: str | None) -> None:
    message.set_content(_template("alert.txt.j2").render(alerts=alerts, escalated=escalated))
    page = _template("alert.html.j2").render(alerts=alerts, escalated=escalated)
    message.add_alternative(page, subtype="html")


def _alert(trigger: TriggerEvent, account: Account, link: str | None) -> dict[str, Any]:
    """What the templates show of one alert."""
    return {
        "title": title(trigger),
        "account": account.name,
        "summary": trigger.summary,
        "facts": facts(trigger, account),
        "playbook": trigger.playbook,
        "links": links(account, link),
        "type": trigger.type,
        "dedup_key": trigger.dedup_key,
    }


@cache
def _template(name: str) -> Template:
    environment = Environment(
        loader=PackageLoader("services.alerts.messages", "templates"),
        autoescape=select_autoescape(["html.j2"]),
        undefined=StrictUndefined,  # a name the template misspells fails the tests
        keep_trailing_newline=True,
    )
    return environment.get_template(name)


def _header(value: str) -> str:
    # A header value may not contain line breaks (header injection); fold them to spaces.
    return " ".join(value.splitlines())
