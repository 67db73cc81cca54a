"""Who may call the API, and how much (docs/operations.md, Security).

ApiGuard is ASGI middleware in front of every route. For /v1 (and /metrics when the API serves
it) it, in order:

1. finds the caller: the unrevoked token named by `Authorization: Bearer <token>`, looked up
   in a copy of the token table refreshed every PULSE_API_TOKEN_CACHE_SECONDS (so a check is
   no database round trip);
2. rate-limits the caller: a token bucket per token, or per client address without a valid
   token (429 with Retry-After);
3. once any unrevoked token exists (or always, on a non-loopback bind): no or an unknown token
   is a 401, a read token on a write route a 403;
4. refuses a body over PULSE_API_MAX_BODY_BYTES (413), on every path, before a route reads it.

Tokens are never logged: only their names are. document_guard declares the bearer scheme and
these refusals in the OpenAPI document, on the routes they apply to.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.scoring.api.models import Refusal
from services.scoring.settings import ScoringSettings
from services.scoring.tokens import READ, WRITE, ActiveToken, active_tokens, hash_token, mark_used
from shared.clock import utcnow
from shared.errors import ConfigurationError

log = logging.getLogger(__name__)

REALM = 'Bearer realm="AccountPulse"'
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_used_at is written at most this often per token and process.
LAST_USED_EVERY_SECONDS = 60.0
CREATE_HINT = "pulse token create --name ops --scope write"

REJECTED = Counter(
    "pulse_api_rejected_total",
    "API requests refused before reaching a route, by reason",
    ["reason"],
)


def is_protected(path: str, also: frozenset[str] = frozenset()) -> bool:
    """/v1 routes, and `also` (/metrics when the API serves it)."""
    return path == "/v1" or path.startswith("/v1/") or path in also


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: only this machine can connect."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_bind(settings: ScoringSettings, engine: AsyncEngine) -> None:
    """Refuse to start an API anyone on the network could use: a non-loopback bind needs at
    least one unrevoked token. The error says why and how to fix it (the CLI exits 2)."""
    if is_loopback(settings.api_host) or await active_tokens(engine):
        return
    raise ConfigurationError(
        f"refusing to serve the API on {settings.api_host}:{settings.api_port} without an API "
        "token: anyone who can reach that address could read and change every account. Create "
        f"a token first with `{CREATE_HINT}` (then send `Authorization: Bearer <token>`), or "
        "bind to 127.0.0.1 (PULSE_API_HOST)."
    )


class RateLimiter:
    """Token buckets by key: `rate` requests per second on average, `burst` at once."""

    MAX_KEYS = 10_000

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """0 when the request may go ahead; else the seconds until it could."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > self.MAX_KEYS:
                self._prune(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget full buckets (a fresh one is the same); if too many callers are still
        mid-burst, forget them all rather than grow without bound."""
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
        if len(self._buckets) > self.MAX_KEYS:
            self._buckets.clear()


class TokenCache:
    """The unrevoked tokens, read from the database at most every `ttl` seconds."""

    def __init__(
        self, engine: AsyncEngine, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.clock = clock
        self._tokens: dict[str, ActiveToken] | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._marked: dict[str, float] = {}  # token_hash -> when last_used_at was last written

    def _fresh(self) -> dict[str, ActiveToken] | None:
        if self._tokens is not None and self.clock() - self._loaded_at < self.ttl:
            return self._tokens
        return None

    async def tokens(self) -> dict[str, ActiveToken]:
        tokens = self._fresh()
        if tokens is not None:
            return tokens
        async with self._lock:
            tokens = self._fresh()
            if tokens is None:
                loaded_at = self.clock()
                tokens = await active_tokens(self.engine)
                self._tokens, self._loaded_at = tokens, loaded_at
            return tokens

    async def used(self, token: ActiveToken) -> None:
        """Record the use in last_used_at, at most every LAST_USED_EVERY_SECONDS; a failure
        only costs the record, never the request."""
        now = self.clock()
        last = self._marked.get(token.token_hash)
        if last is not None and now - last < LAST_USED_EVERY_SECONDS:
            return
        self._marked[token.token_hash] = now
        try:
            await mark_used(self.engine, token.token_hash, utcnow())
        except Exception as exc:
            log.warning("could not record the use of token %r: %s", token.name, exc)


class ApiGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: ScoringSettings,
        engine: AsyncEngine,
        protected_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body = settings.api_max_body_bytes
        self.protected_paths = protected_paths
        # On a non-loopback bind the API never falls back to open, even if every token is
        # revoked while it runs.
        self.always_required = not is_loopback(settings.api_host)
        self.tokens = TokenCache(engine, settings.api_token_cache_seconds)
        self.limiter = RateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
        self.rate_text = (
            f"at most {settings.api_rate_per_second:g} requests per second "
            f"(bursts of {settings.api_rate_burst})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = None
        if is_protected(scope["path"], self.protected_paths):
            refusal = await self._admit(scope, headers)
        if refusal is None:
            refusal, receive = await self._limit_body(headers, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        try:
            tokens = await self.tokens.tokens()
        except Exception as exc:
            log.warning("API tokens unavailable: %s: %s", type(exc).__name__, exc)
            return _refuse(503, "cannot check API tokens now: the database did not answer")
        authorization = headers.get("authorization")
        caller = None
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                caller = tokens.get(hash_token(credentials.strip()))
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.limiter.take(f"token:{caller.token_hash}" if caller else f"client:{address}")
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            log.debug("rate limited %s (%s)", caller.name if caller else address, scope["path"])
            return _refuse(
                429,
                f"too many requests: {self.rate_text} per token (per client address without "
                f"one); retry in {seconds}s",
                {"Retry-After": str(seconds)},
                reason="rate_limited",
            )
        if not tokens and not self.always_required:
            return None  # no token yet: the API is open (bound to loopback)
        if caller is None:
            what = "missing" if authorization is None else "invalid"
            log.debug("%s bearer token from %s for %s", what, address, scope["path"])
            if authorization is None:
                return _refuse(
                    401,
                    "this API needs a token: send `Authorization: Bearer <token>` "
                    "(an operator creates one with `pulse token create`)",
                    {"WWW-Authenticate": REALM},
                    reason="unauthenticated",
                )
            return _refuse(
                401,
                "the bearer token is not valid: unknown, revoked or malformed",
                {"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
                reason="unauthenticated",
            )
        needed = READ if scope["method"] in READ_METHODS else WRITE
        if not caller.allows(needed):
            log.debug("token %r (scope %s) refused %s", caller.name, caller.scope, scope["path"])
            return _refuse(
                403,
                f"token {caller.name!r} has scope {caller.scope}; "
                f"{scope['method']} {scope['path']} needs scope {needed}",
                {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
                reason="forbidden",
            )
        await self.tokens.used(caller)
        return None

    async def _limit_body(
        self, headers: Headers, receive: Receive
    ) -> tuple[JSONResponse | None, Receive]:
        """Read the body up front (at most the limit): a 413 before any route parses it."""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return self._too_large(), receive
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                return self._too_large(), receive
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return None, replay

    def _too_large(self) -> JSONResponse:
        return _refuse(
            413,
            f"request body too large: at most {self.max_body} bytes (PULSE_API_MAX_BODY_BYTES)",
            reason="too_large",
        )


def _refuse(
    status: int, detail: str, headers: dict[str, str] | None = None, *, reason: str = ""
) -> JSONResponse:
    if reason:
        REJECTED.labels(reason).inc()
    return JSONResponse({"detail": detail}, status, headers=headers)


def document_guard(app: FastAPI, also: frozenset[str] = frozenset()) -> None:
    """Declare in the OpenAPI document what ApiGuard does: the bearer scheme on the routes it
    guards (so /docs can send a token), and the answers it gives instead of theirs."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain()
        components = schema.setdefault("components", {})
        schemes = components.setdefault("securitySchemes", {})
        if "bearer" not in schemes:  # plain() caches the document: change it once
            schemes["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `pulse token create` (needed once one exists).",
            }
            components.setdefault("schemas", {}).setdefault(
                "Refusal", Refusal.model_json_schema(ref_template=REF)
            )
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _document_refusals(operation, method.upper(), is_protected(path, also))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


REF = "#/components/schemas/{model}"


def _refusal(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A {"detail": "..."} answer (_refuse) as an OpenAPI response."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Refusal")}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


CHALLENGE = {
    "WWW-Authenticate": {
        "description": "the Bearer scheme, with the error once a token was sent",
        "schema": {"type": "string"},
        "required": True,
    }
}
TOO_LARGE = _refusal("a request body over PULSE_API_MAX_BODY_BYTES")
GUARDED = {
    "401": _refusal(
        "no valid bearer token, once a token exists (always when bound beyond loopback)",
        CHALLENGE,
    ),
    "429": _refusal(
        "over the rate limit of the token (of the client address without one)",
        {
            "Retry-After": {
                "description": "seconds to wait",
                "schema": {"type": "integer", "minimum": 1},
                "required": True,
            }
        },
    ),
    "503": _refusal("the API tokens cannot be checked: the database did not answer"),
}
FORBIDDEN = _refusal("a token with scope read on a write route", CHALLENGE)


def _document_refusals(operation: dict[str, Any], method: str, protected: bool) -> None:
    refusals = {"413": TOO_LARGE}
    if protected:
        operation["security"] = [{"bearer": []}]
        refusals |= GUARDED
        if method not in READ_METHODS:
            refusals["403"] = FORBIDDEN
    responses = operation.setdefault("responses", {})
    for code, refusal in refusals.items():
        if code in responses:  # the route answers this too, for its own reason
            responses[code]["description"] += f"; or {refusal['description']}"
        else:
            responses[code] = copy.deepcopy(refusal)
    operation["responses"] = dict(sorted(responses.items()))
