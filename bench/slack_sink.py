"""A Slack Web API stand-in that only notes when each alert arrives.

It answers every chat.postMessage with ok, and records the first arrival time (monotonic
clock, the same one the probes use) per (account_id, trigger type) taken from the message
metadata. It runs in its own thread, so arrivals are stamped even while the benchmark's
event loop is busy producing load.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The alerts service sends up to 100 alerts at once; the default listen backlog of 5
    # would leave most of those connections waiting on SYN retries, i.e. time out.
    request_queue_size = 1024


class SlackSink:
    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str], float] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/api"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> SlackSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def arrived(self, account_id: str, trigger_type: str) -> float | None:
        with self._lock:
            return self.arrivals.get((account_id, trigger_type))

    def _record(self, body: dict[str, Any]) -> None:
        at = time.monotonic()
        payload = (body.get("metadata") or {}).get("event_payload") or {}
        key = (str(payload.get("account_id")), str(payload.get("type")))
        with self._lock:
            self.requests += 1
            self.arrivals.setdefault(key, at)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack's API offers
            # Headers and body go out in two writes; with Nagle's algorithm the second
            # waits for the client's delayed ACK, adding ~40 ms to every alert.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                if isinstance(body, dict):
                    sink._record(body)
                channel = body.get("channel") if isinstance(body, dict) else None
                answer = json.dumps({"ok": True, "channel": channel, "ts": f"{time.time():.6f}"})
                data = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per alert would drown the table

        return Handler
