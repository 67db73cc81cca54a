"""Delivery channels behind one small interface (`Sender`), chosen by settings."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from services.alerts.routing.model import RoutingFile
from services.alerts.senders.base import (
    Attempt,
    DeliveryError,
    GroupSender,
    LooksBack,
    Receipt,
    Sender,
)
from services.alerts.senders.console import ConsoleSender
from services.alerts.senders.email import EmailSender
from services.alerts.senders.pace import Pace
from services.alerts.senders.slack import SlackSender
from services.alerts.senders.webhook import WebhookSender
from services.alerts.settings import AlertsSettings

__all__ = [
    "Attempt",
    "ConsoleSender",
    "DeliveryError",
    "EmailSender",
    "GroupSender",
    "LooksBack",
    "Receipt",
    "Sender",
    "SlackSender",
    "WebhookSender",
    "build",
]


def build(
    settings: AlertsSettings, client: httpx.AsyncClient, routing: Callable[[], RoutingFile]
) -> dict[str, Sender]:
    """The enabled channels: Slack with a bot token, email with an SMTP host, else the
    console; and webhooks, for the webhook receivers of the routing in use (`routing`)."""
    senders: dict[str, Sender] = {}
    if settings.slack_bot_token and settings.slack_bot_token.get_secret_value():
        senders["slack"] = SlackSender(
            client,
            api_url=settings.slack_api_url,
            token=settings.slack_bot_token.get_secret_value(),
            default_channel=settings.slack_default_channel,
            public_url=settings.public_url,
            buttons=bool(
                settings.slack_signing_secret and settings.slack_signing_secret.get_secret_value()
            ),
            pace=Pace(
                settings.slack_channel_interval_seconds,
                wait_at_most=settings.delivery_timeout_seconds / 4,
            ),
        )
    if settings.smtp_host:
        senders["email"] = EmailSender(settings)
    if not senders:
        senders["console"] = ConsoleSender()
    senders["webhook"] = WebhookSender(client, routing, settings.delivery_timeout_seconds)
    return senders
