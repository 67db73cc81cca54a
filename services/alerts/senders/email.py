"""Email: one SMTP conversation per alert to the account's CSM, text and HTML parts.

SMTP says itself whether to retry: 4xx replies are transient, 5xx replies permanent. With an
email archive configured (archive.py), the archive is a second envelope recipient of the same
transaction, and a retry first asks the archive whether an earlier try went through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from email.message import EmailMessage
from functools import partial

import aiosmtplib
from aiosmtplib.email import flatten_message

from services.alerts import messages
from services.alerts.models import Account
from services.alerts.senders.archive import MailArchive
from services.alerts.senders.base import Attempt, DeliveryError, Receipt
from services.alerts.settings import AlertsSettings
from shared.contracts.triggers import TriggerEvent

log = logging.getLogger(__name__)


class EmailSender:
    channel = "email"
    no_recipient = "no email recipient: the account has no csm.email"

    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        # Few at once: each is a connection to the relay, and each email the relay accepted
        # but the worker had not recorded yet when it died is in doubt: sent again unless
        # the archive has it. The fewer under way, the fewer a crash can leave in doubt.
        self.max_in_flight = settings.smtp_max_connections
        self._goodbyes: set[asyncio.Task[None]] = set()
        address, host = settings.email_archive_address, settings.imap_host
        # Both or neither: AlertsSettings refuses one without the other.
        self.archive = MailArchive(address, host, settings) if address and host else None

    def recipient(self, account: Account) -> str | None:
        return account.csm_email

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        s = self.settings
        message = messages.email_message(
            trigger,
            account,
            sender=s.email_from,
            recipient=recipient,
            link=messages.account_link(s.public_url, trigger.account_id),
            receiver=attempt.receiver,
            notice=attempt.notice,
            note=attempt.note,
        )
        return await self._mail(message, recipient, attempt)

    async def send_group(
        self, alerts: Sequence[tuple[TriggerEvent, Account]], recipient: str, attempt: Attempt
    ) -> Receipt | None:
        link = partial(messages.account_link, self.settings.public_url)
        message = messages.email_group(
            [(trigger, account, link(trigger.account_id)) for trigger, account in alerts],
            sender=self.settings.email_from,
            recipient=recipient,
            receiver=attempt.receiver,
        )
        return await self._mail(message, recipient, attempt)

    async def _mail(
        self, message: EmailMessage, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        s = self.settings
        # Without an archive a retry is sent again, with the same Message-ID (derived from
        # the dedup_keys), by which mail systems recognise a copy of a message they hold.
        if (
            attempt.is_retry
            and self.archive
            and await self.archive.holds(str(message["Message-ID"]), attempt.since)
        ):
            log.info(
                "alerts: %s is in the email archive; not sending it again", message["Message-ID"]
            )
            return None
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
            await self._transfer(client, message, recipient)
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise DeliveryError(
                f"SMTP refused the recipient: {exc.code} {exc.message}", permanent=exc.code >= 500
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
        return None

    async def _transfer(
        self, client: aiosmtplib.SMTP, message: EmailMessage, recipient: str
    ) -> None:
        """One SMTP transaction: the CSM, then the archive, then DATA. Unlike send_message,
        a refused CSM ends it before DATA: the archive must hold a copy only of an email the
        CSM was sent, or a retry would take it for a delivery."""
        envelope = [recipient, *([self.archive.address] if self.archive else [])]
        utf8 = not "".join([self.settings.email_from, *envelope]).isascii()
        encoding = "utf-8" if utf8 else "ascii"
        await client.mail(
            self.settings.email_from, options=["SMTPUTF8"] if utf8 else [], encoding=encoding
        )
        await client.rcpt(recipient, encoding=encoding)
        if self.archive:
            try:
                await client.rcpt(self.archive.address, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                # The email still goes; only a retry after a crash could double it.
                log.warning(
                    "alerts: the SMTP server refused the email archive %s: %s %s",
                    self.archive.address,
                    exc.code,
                    exc.message,
                )
        await client.data(flatten_message(message, utf8=utf8, cte_type="7bit"))

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
