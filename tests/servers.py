"""Real receivers for alert tests: a Slack Web API stand-in (HTTP), an SMTP server
(aiosmtpd) and an IMAP server (Dovecot) for the email archive. The first two run in their own
thread, record what they receive, and can be told to fail the next N requests the way the
real thing fails."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.kafka import free_port


@dataclass
class SlackRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the stand-in answered: HTTP status, and Slack's "ok"
    ok: bool
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]


class SlackServer:
    """Answers POST /api/<method> like Slack's Web API; `.url` is the slack_api_url.

    chat.postMessage is recorded in `.requests` (and can be made to fail); what it accepts is
    kept per conversation, a user's messages in the bot's DM with them (D + user ID), for
    conversations.open and conversations.history, which are recorded in `.lookups`.
    """

    def __init__(self) -> None:
        self.requests: list[SlackRequest] = []
        self.lookups: list[SlackRequest] = []
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.delay = 0.0  # seconds before every answer: a slow Slack
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/api"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: dict[str, Any] | str = "internal error",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `count` requests with this status and body instead of ok."""
        with self._lock:
            self._failures += [_Failure(status, body, headers or {})] * count

    def rate_limit_next(self, count: int = 1, retry_after: int = 1) -> None:
        self.fail_next(
            count,
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
        )

    def error_next(self, count: int, error: str) -> None:
        """Slack's usual failure: HTTP 200 with ok=false."""
        self.fail_next(count, status=200, body={"ok": False, "error": error})

    def posted(self) -> list[SlackRequest]:
        """Messages Slack accepted."""
        return [r for r in self.requests if r.ok]

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> _Failure:
        method = path.rsplit("/", 1)[-1]
        if method != "chat.postMessage":
            answer = _Failure(200, self._look_up(method, body), {})
            with self._lock:
                self.lookups.append(SlackRequest(path, headers, body, 200, True))
            return answer
        if not (isinstance(body.get("channel"), str) and ("text" in body or "blocks" in body)):
            # Slack's answer to a request it cannot use (a client killed mid-request sends one).
            failure: _Failure | None = _Failure(
                200, {"ok": False, "error": "invalid_arguments"}, {}
            )
        else:
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
        if failure is None:
            failure = _Failure(200, self._post(body), {})
        ok = failure.status == 200 and isinstance(failure.body, dict) and failure.body.get("ok")
        request = SlackRequest(path, headers, body, failure.status, bool(ok))
        with self._lock:
            self.requests.append(request)
        return failure

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = _conversation(str(body.get("channel")))
        ts = f"{time.time():.6f}"
        message = {"type": "message", "ts": ts, "text": body.get("text"), **_kept(body)}
        with self._lock:
            self.history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts}

    def _look_up(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": _conversation(body.get("users", ""))}}
        if method != "conversations.history":
            return {"ok": False, "error": "unknown_method"}
        oldest = float(body.get("oldest") or 0)
        with_metadata = body.get("include_all_metadata") == "true"
        with self._lock:
            found = [
                m if with_metadata else {k: v for k, v in m.items() if k != "metadata"}
                for m in reversed(self.history.get(body.get("channel", ""), []))
                if float(m["ts"]) > oldest
            ]
        start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 100)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Type", "").startswith("application/json"):
                        body = json.loads(raw or b"{}")
                    else:  # Slack's read methods take form fields
                        body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                except ValueError:  # cut short: the client died mid-request
                    body = {}
                body = body if isinstance(body, dict) else {}
                if server.delay:
                    time.sleep(server.delay)
                answer = server._answer(self.path, dict(self.headers.items()), body)
                payload = (
                    json.dumps(answer.body) if isinstance(answer.body, dict) else answer.body
                ).encode()
                content_type = "application/json" if isinstance(answer.body, dict) else "text/plain"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a slow-Slack test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _conversation(channel: str) -> str:
    """Where Slack keeps what is posted to `channel`: a user's DM with the bot, or itself."""
    return f"D{channel}" if channel[:1] in ("U", "W") else channel


def _kept(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("blocks", "metadata") if k in body}


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


def _served(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    yield from _served(SlackServer())


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from _served(SmtpServer())


@pytest.fixture
def mail_archive() -> Iterator[MailArchiveServer]:
    yield from _served(MailArchiveServer())
