"""A Slack Web API stand-in (HTTP) for the tests and the benchmark.

It runs in its own thread, so arrivals are stamped (monotonic clock) even while the caller's
event loop is busy; records what it receives; and can be told to fail the next N requests
the way the real thing fails.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _Server(ThreadingHTTPServer):
    # The alerts service sends up to 100 alerts at once; the default listen backlog of 5
    # would leave most of those connections waiting on SYN retries, i.e. time out.
    request_queue_size = 1024


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
    conversations.open, conversations.history, chat.update and chat.delete, which are
    recorded in `.lookups`.
    """

    def __init__(self) -> None:
        self.requests: list[SlackRequest] = []
        self.lookups: list[SlackRequest] = []
        self.responses: list[SlackRequest] = []  # message updates sent to a response_url
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.delay = 0.0  # seconds before every answer: a slow Slack
        self._post_delays: list[float] = []  # before the next chat.postMessage answers, instead
        self.arrivals: dict[tuple[str, str], float] = {}  # (account_id, trigger type) -> first
        self._unanswered = 0  # requests received and not yet answered
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/api"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> SlackServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def slow_next_posts(self, *seconds: float) -> None:
        """Take the next chat.postMessage requests only after these delays, one each."""
        with self._lock:
            self._post_delays += seconds

    def error_next(self, count: int, error: str) -> None:
        """Slack's usual failure: HTTP 200 with ok=false."""
        self.fail_next(count, status=200, body={"ok": False, "error": error})

    def posted(self) -> list[SlackRequest]:
        """Alerts Slack accepted (messages whose metadata is a pulse_trigger, or none)."""
        return [r for r in self.requests if r.ok and _event_type(r.body) != RESOLVED]

    def replies(self) -> list[SlackRequest]:
        """Resolved notices Slack accepted (metadata pulse_trigger_resolved)."""
        return [r for r in self.requests if r.ok and _event_type(r.body) == RESOLVED]

    def idle(self) -> bool:
        """Whether every request received so far has been handled: a request its client gave
        up on still takes effect once its delay has passed, as with the real Slack."""
        with self._lock:
            return self._unanswered == 0

    def arrived(self, account_id: str, trigger_type: str) -> float | None:
        """When the first accepted alert for this account and trigger type arrived
        (monotonic clock); None while none has."""
        with self._lock:
            return self.arrivals.get((account_id, trigger_type))

    def _delay_before(self, path: str) -> float:
        with self._lock:
            if path.endswith("/chat.postMessage") and self._post_delays:
                return self._post_delays.pop(0)
        return self.delay

    def response_url(self, name: str) -> str:
        """A response_url as Slack gives with an interaction: what is POSTed to it is kept in
        `.responses`."""
        return f"{self.url.rsplit('/api', 1)[0]}/actions/{name}"

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> _Failure:
        if path.startswith("/actions/"):
            with self._lock:
                self.responses.append(SlackRequest(path, headers, body, 200, True))
            return _Failure(200, "ok", {})
        method = path.rsplit("/", 1)[-1]
        if method != "chat.postMessage":
            found = self._look_up(method, body)
            with self._lock:
                self.lookups.append(SlackRequest(path, headers, body, 200, bool(found.get("ok"))))
            return _Failure(200, found, {})
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
            if ok and _event_type(body) != RESOLVED:
                self.arrivals.setdefault(_alert_key(body), request.at)
        return failure

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = _conversation(str(body.get("channel")))
        ts = f"{time.time():.6f}"
        message = {"type": "message", "ts": ts, "text": body.get("text"), **_kept(body)}
        if body.get("thread_ts"):
            message["thread_ts"] = str(body["thread_ts"])
        with self._lock:
            self.history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts}

    def _look_up(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": _conversation(body.get("users", ""))}}
        if method == "chat.delete":
            return self._delete(str(body.get("channel")), str(body.get("ts")))
        if method == "chat.update":
            return self._update(body)
        if method not in ("conversations.history", "conversations.replies"):
            return {"ok": False, "error": "unknown_method"}
        oldest = float(body.get("oldest") or 0)
        latest = float(body.get("latest") or "inf")
        inclusive = body.get("inclusive") == "true"
        with_metadata = body.get("include_all_metadata") == "true"
        thread = body.get("ts") if method == "conversations.replies" else None
        with self._lock:
            found = [
                m if with_metadata else {k: v for k, v in m.items() if k != "metadata"}
                for m in reversed(self.history.get(body.get("channel", ""), []))
                if float(m["ts"]) > oldest
                and (float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest))
                and _in(m, thread)
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

    def updated(self) -> list[SlackRequest]:
        """The chat.update calls Slack accepted."""
        return [r for r in self.lookups if r.path.endswith("/chat.update") and r.ok]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message as it is now in the conversation `channel` (a user's: their DM)."""
        with self._lock:
            found = [m for m in self.history.get(_conversation(channel), []) if m["ts"] == ts]
        return found[0] if found else None

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(body.get("channel")), str(body.get("ts"))
        with self._lock:
            for message in self.history.get(channel, []):
                if message["ts"] == ts:
                    message.update({k: body[k] for k in ("text", "blocks") if k in body})
                    return {"ok": True, "channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def _delete(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            kept = self.history.get(channel, [])
            left = [m for m in kept if m["ts"] != ts]
            self.history[channel] = left
        if len(left) == len(kept):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack's API offers
            # Headers and body go out in two writes; with Nagle's algorithm the second
            # waits for the client's delayed ACK, delaying every alert.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                with server._lock:
                    server._unanswered += 1
                try:
                    self._handle()
                finally:
                    with server._lock:
                        server._unanswered -= 1

            def _handle(self) -> None:
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
                delay = server._delay_before(self.path)
                if delay:
                    time.sleep(delay)
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
                pass  # one line per alert would drown the output

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _conversation(channel: str) -> str:
    """Where Slack keeps what is posted to `channel`: a user's DM with the bot, or itself."""
    return f"D{channel}" if channel[:1] in ("U", "W") else channel


RESOLVED = "pulse_trigger_resolved"


def _event_type(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    return metadata.get("event_type") if isinstance(metadata, dict) else None


def _in(message: dict[str, Any], thread: str | None) -> bool:
    """As Slack lists them: the history has no thread replies; a thread has its parent and
    replies."""
    if thread is None:
        return message.get("thread_ts", message["ts"]) == message["ts"]
    return message["ts"] == thread or message.get("thread_ts") == thread


def _kept(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("blocks", "metadata") if k in body}


def _alert_key(body: dict[str, Any]) -> tuple[str, str]:
    """(account_id, trigger type) from an alert's message metadata."""
    payload = (body.get("metadata") or {}).get("event_payload") or {}
    return str(payload.get("account_id")), str(payload.get("type"))
