"""The alerts service's settings: Slack, SMTP, the email archive, retries (PULSE_ variables;
docs/contract.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError


class AlertsSettings(BaseServiceSettings):
    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api"
    slack_default_channel: str | None = None
    # The least time between two posts to one Slack channel (or user) from this instance:
    # Slack's guidance is about one message a second per channel. 0: no pacing.
    slack_channel_interval_seconds: float = Field(default=1.0, ge=0)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    # SMTP conversations under way at once, per alerts instance.
    smtp_max_connections: int = Field(default=4, ge=1)
    email_from: str = "pulse@localhost"
    # The email archive (senders/archive.py): a mailbox that gets a Bcc of every alert email
    # and is searched over IMAP before a retry, so that an email the relay took just before a
    # crash is not sent twice. Both the address and the IMAP host, or neither.
    email_archive_address: str | None = None
    imap_host: str | None = None
    imap_port: int = 993
    imap_tls: bool = True  # IMAP over TLS (port 993); false: plain IMAP, for a local server
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_mailbox: str = "INBOX"
    # Delivery retries: exponential backoff from base to cap, then give up.
    delivery_backoff_base_seconds: float = Field(default=1.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=300.0, gt=0)
    delivery_max_attempts: int = Field(default=12, ge=1)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    # Base URL of the API used in alert links; none when unset.
    public_url: str | None = None
    # The routing file (docs/alerting.md); unset: every trigger to the account's CSM.
    routes: str | None = None
    # Slack app's signing secret: with it, alerts carry Acknowledge and Snooze buttons, whose
    # clicks the API takes at /v1/slack/interactions.
    slack_signing_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _check_archive(self) -> AlertsSettings:
        if bool(self.email_archive_address) != bool(self.imap_host):
            missing = (
                "PULSE_IMAP_HOST" if self.email_archive_address else "PULSE_EMAIL_ARCHIVE_ADDRESS"
            )
            raise ConfigurationError(
                f"the email archive needs both PULSE_EMAIL_ARCHIVE_ADDRESS and PULSE_IMAP_HOST: "
                f"set {missing} too, or neither"
            )
        if self.email_archive_address and not self.smtp_host:
            raise ConfigurationError("PULSE_EMAIL_ARCHIVE_ADDRESS needs PULSE_SMTP_HOST")
        return self
