"""The fast health read: GET /v1/accounts/{id}/health answered below FastAPI's routing,
dependency solving and response objects, since it is the hottest read.

HealthReads sits inside the guard (guard.py), so the read passes the same admission and body
checks as every route. It answers a found account, and the database's absence as the routes
do; everything else (another path, an id the route refuses, an unknown account) goes on to
the route.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from services.scoring.api.account_rows import HEALTH_COLUMNS, health_json, one_account
from services.scoring.api.errors import DATABASE_ERRORS, database_away
from services.scoring.api.params import ACCOUNT_ID_MAX
from shared.db.engine import read_rows

# The ids AccountId admits, and the route's path: HealthReads answers none the route refuses.
HEALTH_PATH = re.compile(rf"/v1/accounts/([^/\x00]{{1,{ACCOUNT_ID_MAX}}})/health")
JSON_HEADERS = [(b"content-type", b"application/json")]


class HealthReads:
    """The ASGI layer described in the module docstring."""

    def __init__(self, app: ASGIApp, *, reads: AsyncEngine) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET":
            match = HEALTH_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            rows = await read_rows(
                self.reads, one_account(HEALTH_COLUMNS), {"account_id": match[1]}
            )
        except DATABASE_ERRORS as exc:
            await database_away(f"GET {scope['path']}", exc)(scope, receive, send)
            return
        if not rows:
            await self.app(scope, receive, send)  # the route's 404
            return
        found = health_json(rows[0])
        headers = [*JSON_HEADERS, (b"content-length", str(len(found)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": found})
