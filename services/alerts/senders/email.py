"""Email: one SMTP conversation per alert to the account's CSM, text and HTML parts.

SMTP says itself whether to retry: 4xx replies are transient, 5xx replies permanent.
"""

from __future__ import annotations

import asyncio

import aiosmtplib

from services.alerts import messages
from services.alerts.models import Account, Trigger
from services.alerts.senders.base import Attempt, DeliveryError
from shared.config import AlertsSettings


class EmailSender:
    channel = "email"
    no_recipient = "no email recipient: the account has no csm.email"

    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        # Few at once: each is a connection to the relay, and each email the relay accepted
        # but the worker had not recorded yet when it died is sent again (SMTP cannot be
        # asked), so the fewer under way, the fewer a crash can double.
        self.max_in_flight = settings.smtp_max_connections
        self._goodbyes: set[asyncio.Task[None]] = set()

    def recipient(self, account: Account) -> str | None:
        return account.csm_email

    async def send(
        self, trigger: Trigger, account: Account, recipient: str, attempt: Attempt
    ) -> None:
        # SMTP has no way to ask whether an earlier try arrived: a retry is sent again, with
        # the same Message-ID (derived from the dedup_key), by which mail systems recognise
        # a copy of a message they already hold.
        s = self.settings
        message = messages.email_message(
            trigger,
            account,
            sender=s.email_from,
            recipient=recipient,
            link=messages.account_link(s.public_url, trigger.account_id),
        )
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=s.delivery_timeout_seconds,
        )
        try:
            await client.connect()
            await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusals = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            permanent = all(r.code >= 500 for r in exc.recipients)
            raise DeliveryError(
                f"SMTP refused the recipient: {refusals}", permanent=permanent
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}: {exc}") from None
        finally:
            # The server has the message (or refused it) with its reply to DATA: the outcome
            # is recorded now, and the goodbye is said meanwhile, not before it (until the
            # outcome is stored a crash resends the email).
            self._say_goodbye(client)

    def _say_goodbye(self, client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            return
        goodbye = asyncio.create_task(_quit(client))
        self._goodbyes.add(goodbye)
        goodbye.add_done_callback(self._goodbyes.discard)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
