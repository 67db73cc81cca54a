"""Rendering of alerts: pure functions from a trigger and its account to text (text.py),
Slack Block Kit (slack.py) and email (email.py). No I/O here, so every format is testable on
its own and the same on a resend."""

from services.alerts.messages.email import email_group, email_message
from services.alerts.messages.slack import (
    ACK_ACTION,
    SNOOZE_ACTION,
    SNOOZE_DAYS,
    event_type,
    slack_group,
    slack_handled,
    slack_message,
    slack_resolved,
)
from services.alerts.messages.text import (
    TITLES,
    account_link,
    console_line,
    details_text,
    message_id,
    title,
)

__all__ = [
    "ACK_ACTION",
    "SNOOZE_ACTION",
    "SNOOZE_DAYS",
    "TITLES",
    "account_link",
    "console_line",
    "details_text",
    "email_group",
    "email_message",
    "event_type",
    "message_id",
    "slack_group",
    "slack_handled",
    "slack_message",
    "slack_resolved",
    "title",
]
