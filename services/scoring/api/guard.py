"""The ASGI guard in front of every route, and of HealthReads: a request to a protected path
must pass the Gate (admission.py), then every request the body limit (body_limit.py).

Both run here, below FastAPI, because FastAPI reads and parses a route's body before it
solves the route's dependencies: a caller without a valid token gets its 429, 401 or 403
before anything of its body is read, and the fast health read passes the same checks. The
routes declare the same protection in their dependencies (auth.py), for the OpenAPI document
and to hand the admitted caller on.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.scoring.api.admission import Gate, Refused, is_protected
from services.scoring.api.body_limit import limit_body

# Where the guard leaves the admitted caller (a token, or None while the API is open).
CALLER = "accountpulse.caller"


class ApiGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        gate: Gate,
        max_body: int,
        protected_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.gate = gate
        self.max_body = max_body
        self.protected_paths = protected_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if is_protected(scope["path"], self.protected_paths):
            try:
                scope[CALLER] = await self.gate.admit(scope, headers)
            except Refused as refused:
                await refused.answer(scope, receive, send)
                return
        too_large, receive = await limit_body(headers, receive, self.max_body)
        if too_large is not None:
            await too_large(scope, receive, send)
            return
        await self.app(scope, receive, send)
