"""An alert by email: plain text and HTML, rendered from the templates beside this module
(Jinja2; the HTML one escapes every value), with headers that make a resend the same message.
Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from services.alerts.messages.text import escalation_text, facts, links, message_id, title
from services.alerts.models import Account
from services.alerts.notices import ALERT
from services.alerts.routing.model import CSM_RECEIVER
from shared.clock import as_utc
from shared.contracts.triggers import TriggerEvent


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
    message = EmailMessage()
    message["Subject"] = _header(f"[Escalated] {subject}" if escalated else subject)
    message["From"] = sender
    message["To"] = recipient
    # Date and Message-ID come from the trigger, not the clock: a resend is the same message.
    message["Date"] = format_datetime(as_utc(trigger.fired_at))
    message["Message-ID"] = message_id(trigger.dedup_key, receiver, notice)
    message["X-Pulse-Trigger-Type"] = _header(trigger.type)
    message["X-Pulse-Account-Id"] = _header(trigger.account_id)
    message["X-Pulse-Dedup-Key"] = _header(trigger.dedup_key)
    alerts = [_alert(trigger, account, link)]
    message.set_content(email_text(alerts, escalated))
    message.add_alternative(email_html(alerts, escalated), subtype="html")
    return message


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


def email_text(alerts: Sequence[dict[str, Any]], escalated: str | None = None) -> str:
    return _template("alert.txt.j2").render(alerts=alerts, escalated=escalated)


def email_html(alerts: Sequence[dict[str, Any]], escalated: str | None = None) -> str:
    return _template("alert.html.j2").render(alerts=alerts, escalated=escalated)


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
