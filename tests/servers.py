"""Real receivers for alert tests: a Slack Web API stand-in (HTTP) and an SMTP server
(aiosmtpd). Both run in their own thread, record what they receive, and can be told to fail
the next N requests the way the real thing fails."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

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
    """Answers POST /api/<method> like Slack's Web API; `.url` is the slack_api_url."""

    def __init__(self) -> None:
        self.requests: list[SlackRequest] = []
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
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is None:
            ts = f"{time.time():.6f}"
            failure = _Failure(200, {"ok": True, "channel": body.get("channel"), "ts": ts}, {})
        ok = failure.status == 200 and isinstance(failure.body, dict) and failure.body.get("ok")
        request = SlackRequest(path, headers, body, failure.status, bool(ok))
        with self._lock:
            self.requests.append(request)
        return failure

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
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


@dataclass
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]


class SmtpServer:
    """An SMTP server that keeps what it accepts in `.messages`; host/port to connect to."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[Received] = []
        self._refusals = 0
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=self.host, port=self.port)

    def refuse_next(self, count: int = 1) -> None:
        """Answer the next `count` messages with 451 (try again later)."""
        with self._lock:
            self._refusals += count

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._refusals:
                self._refusals -= 1
                return "451 4.3.0 Try again later"
        content = cast(bytes, envelope.content)
        message = cast(EmailMessage, message_from_bytes(content, policy=policy.default))
        rcpt_tos = list(envelope.rcpt_tos)
        self.messages.append(Received(message, envelope.mail_from or "", rcpt_tos))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = SlackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
