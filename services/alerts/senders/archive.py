"""The email archive: a mailbox that receives a Bcc of every alert email, searched over IMAP
before a retry.

SMTP cannot be asked whether it took a message. A worker that dies after the relay's 250
and before the outcome is stored leaves the delivery without an outcome, and the next try
would send it again (RFC 1047's "lost OK"). The Bcc travels in the same SMTP transaction as
the email itself, so the archive holds a copy exactly when the relay accepted the email:
finding its Message-ID there means an earlier try went through. The relay delivers the copy
on its own schedule; a copy still in its queue when the retry looks is not found, and the
email goes again (tries come seconds to minutes apart, local delivery takes milliseconds).
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import ssl
from datetime import datetime, timedelta

from services.alerts.senders.base import DeliveryError
from services.alerts.settings import AlertsSettings

log = logging.getLogger(__name__)

# Response codes (RFC 5530) of trouble on the server's side, which passes by itself.
TRANSIENT_CODES = ("[UNAVAILABLE]", "[SERVERBUG]", "[INUSE]", "[LIMIT]")
# IMAP's SINCE compares dates in the server's zone: a day earlier covers any offset.
SINCE_MARGIN = timedelta(days=1)


class MailArchive:
    def __init__(self, address: str, host: str, settings: AlertsSettings) -> None:
        self.address = address
        self.host = host
        self.port = settings.imap_port
        self.tls = settings.imap_tls
        self.username = settings.imap_username or ""
        self.password = settings.imap_password.get_secret_value() if settings.imap_password else ""
        self.mailbox = settings.imap_mailbox
        self.timeout = settings.delivery_timeout_seconds

    async def holds(self, message_id: str, since: datetime) -> bool:
        """Whether the archive has a message with this Message-ID, received since `since`.

        The archive out of reach (or answering garbage) is a DeliveryError worth retrying:
        sending blind could double the email. An archive that refuses our login or mailbox is
        a configuration error no retry fixes: that is logged and the email is sent, since an
        alert twice beats an alert never.
        """
        try:
            return await asyncio.to_thread(self._search, message_id, since)
        except imaplib.IMAP4.abort as exc:
            raise DeliveryError(f"email archive unreachable: IMAP: {exc}") from None
        except imaplib.IMAP4.error as exc:
            if any(code in str(exc) for code in TRANSIENT_CODES):
                raise DeliveryError(f"email archive unavailable: IMAP: {exc}") from None
            log.warning("alerts: cannot search the email archive (%s); sending anyway", exc)
            return False
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"email archive unreachable: {type(exc).__name__}: {exc}") from None

    def _search(self, message_id: str, since: datetime) -> bool:
        with self._connect() as imap:
            imap.login(self.username, self.password)
            status, answer = imap.select(_quoted(self.mailbox), readonly=True)
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot open mailbox {self.mailbox!r}: {answer!r}")
            day = (since - SINCE_MARGIN).strftime("%d-%b-%Y")
            status, answer = imap.search(
                None, "SINCE", day, "HEADER", "Message-ID", _quoted(message_id)
            )
            if status != "OK":
                raise imaplib.IMAP4.error(f"search refused: {answer!r}")
            return bool(answer and answer[0] and answer[0].split())

    def _connect(self) -> imaplib.IMAP4:
        if self.tls:
            return imaplib.IMAP4_SSL(self.host, self.port, timeout=self.timeout)
        return imaplib.IMAP4(self.host, self.port, timeout=self.timeout)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
