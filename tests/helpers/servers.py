"""Real email receivers for alert tests: an SMTP server (aiosmtpd) and an IMAP server
(Dovecot) for the email archive. The SMTP server runs in its own thread, records what it
receives, and can be told to refuse the next N messages the way the real thing does. (The
Slack stand-in is harness.slack, shared with the benchmark.)"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.kafka import free_port


@dataclass
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]


DOVECOT_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal_user}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class MailArchiveServer:
    """Dovecot (Debian's dovecot-imapd, which .ci/run installs) serving one mailbox over
    plain IMAP on a free port; `deliver` puts a message into it the way a mail server's local
    delivery does (Maildir: written under tmp/, then renamed into new/)."""

    address = "archive@vendor.example"
    username = "archive"
    password = "archive-imap-secret"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pulse-imap-"))
        self.maildir = self.root / "home" / self.username / "Maildir"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(binary):
            raise RuntimeError("Dovecot is not installed: apt-get install dovecot-imapd")
        for folder in ("tmp", "new", "cur"):
            (self.maildir / folder).mkdir(parents=True)
        if os.geteuid() == 0:
            # Dovecot never serves mail as root: the mailbox belongs to nobody.
            users = {"internal_user": "dovecot", "login_user": "dovenull"}
            mail_user, mail_group = "nobody", "nogroup"
            self.root.chmod(0o755)
            for path in [self.root / "home", *self.root.joinpath("home").rglob("*")]:
                path.chmod(0o777)
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            users = {"internal_user": me, "login_user": me}
            mail_user, mail_group = me, grp.getgrgid(os.getegid()).gr_name
        (self.root / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        config = self.root / "dovecot.conf"
        config.write_text(
            DOVECOT_CONFIG.format(
                root=self.root,
                port=self.port,
                mail_user=mail_user,
                mail_group=mail_group,
                **users,
            )
        )
        self._process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not _accepts(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self.root / "dovecot.log"
                raise RuntimeError(
                    f"Dovecot did not start: {log.read_text() if log.exists() else 'no log'}"
                )
            time.sleep(0.05)

    def deliver(self, content: bytes) -> None:
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.pulse-test"
        (self.maildir / "tmp" / name).write_bytes(content)
        (self.maildir / "tmp" / name).chmod(0o666)
        (self.maildir / "tmp" / name).rename(self.maildir / "new" / name)

    def message_ids(self) -> list[str]:
        """The Message-ID of every message in the mailbox, read or not."""
        files = [*(self.maildir / "new").iterdir(), *(self.maildir / "cur").iterdir()]
        return [
            str(message_from_bytes(f.read_bytes(), policy=policy.default)["Message-ID"])
            for f in files
        ]

    def logins(self) -> int:
        """Successful IMAP logins so far, from Dovecot's log."""
        log = self.root / "dovecot.log"
        return log.read_text().count("imap-login: Info: Login:") if log.exists() else 0

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=15)
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class SmtpServer:
    """An SMTP server that keeps what it accepts in `.messages`; host/port to connect to.

    With `archive` set, it delivers the copy for the archive's address into that mailbox
    before answering 250, as a relay with local delivery would, and keeps the message for
    the other recipients only."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[Received] = []
        self.archive: MailArchiveServer | None = None
        self.delay = 0.0  # seconds before answering each message
        self.answer_delay = 0.0  # seconds between accepting a message and saying so (250)
        self.most_at_once = 0  # the most messages in transfer at the same time
        self._at_once = 0
        self._refusals = 0
        self._refused_recipients: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=self.host, port=self.port)

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO:<address> with `reply` from now on."""
        self._refused_recipients[address] = reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if reply := self._refused_recipients.get(address):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def refuse_next(self, count: int = 1) -> None:
        """Answer the next `count` messages with 451 (try again later)."""
        with self._lock:
            self._refusals += count

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            await asyncio.sleep(self.delay)
            answer = self._accept(envelope)
            await asyncio.sleep(self.answer_delay)
            return answer
        finally:
            with self._lock:
                self._at_once -= 1

    def _accept(self, envelope: Envelope) -> str:
        with self._lock:
            if self._refusals:
                self._refusals -= 1
                return "451 4.3.0 Try again later"
        content = cast(bytes, envelope.content)
        message = cast(EmailMessage, message_from_bytes(content, policy=policy.default))
        rcpt_tos = list(envelope.rcpt_tos)
        if self.archive and self.archive.address in rcpt_tos:
            self.archive.deliver(content)
            rcpt_tos.remove(self.archive.address)
        self.messages.append(Received(message, envelope.mail_from or "", rcpt_tos))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
