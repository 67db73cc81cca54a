"""Who may call the API, and how often (docs/operations.md, Security): the one decision on a
request to /v1 (and /metrics when the API serves it), taken before its body is read.

In order:

1. rate-limit a request that presents no token per client address, before anything is looked
   up (429 with Retry-After): anonymous floods cost no database query;
2. find the caller: the unrevoked token named by `Authorization: Bearer <token>`, looked up
   in TokenCache (503 when the token table cannot be read; at most one read of the table per
   PULSE_API_TOKEN_CACHE_SECONDS), and rate-limit it per token, or per client address when the
   token is not valid;
3. once any unrevoked token exists (or always, on a non-loopback bind): no or an unknown token
   is a 401, a read token on a write method a 403.

The client address is the connection's, or X-Forwarded-For's from PULSE_TRUSTED_PROXIES only
(services/scoring/service.py).

Tokens are never logged: only their names are.
"""

from __future__ import annotations

import logging
import math

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Scope

from services.scoring.api.bind import is_loopback
from services.scoring.api.rate_limit import RateLimiter
from services.scoring.api.refusals import refuse
from services.scoring.api.token_cache import TokenCache
from services.scoring.settings import ScoringSettings
from services.scoring.tokens import READ, WRITE, ActiveToken, hash_token

log = logging.getLogger(__name__)

REALM = 'Bearer realm="AccountPulse"'
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Requests another party signs, which carry no token: Slack's interactions (routes/slack.py).
SIGNED_ELSEWHERE = frozenset({"/v1/slack/interactions"})


def is_protected(path: str, also: frozenset[str] = frozenset()) -> bool:
    """/v1 routes, and `also` (/metrics when the API serves it)."""
    return path == "/v1" or path.startswith("/v1/") or path in also


class Refused(Exception):
    """A request the gate does not admit, with the answer to give instead."""

    def __init__(self, answer: JSONResponse) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


class Gate:
    """Decides whether a request to a protected path goes ahead (the module docstring)."""

    def __init__(self, settings: ScoringSettings, engine: AsyncEngine) -> None:
        # On a non-loopback bind the API never falls back to open, even if every token is
        # revoked while it runs.
        self.always_required = not is_loopback(settings.api_host)
        self.tokens = TokenCache(engine, settings.api_token_cache_seconds)
        self.limiter = RateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
        self.rate_text = (
            f"at most {settings.api_rate_per_second:g} requests per second "
            f"(bursts of {settings.api_rate_burst})"
        )

    async def admit(self, scope: Scope, headers: Headers) -> ActiveToken | None:
        """The caller's token (None while the API is open to all); raises Refused."""
        authorization = headers.get("authorization")
        presented = _presented(authorization)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if scope["path"] in SIGNED_ELSEWHERE:  # its route checks the signature instead
            self._limit(f"client:{address}", address, scope["path"])
            return None
        if presented is None:
            self._limit(f"client:{address}", address, scope["path"])
        tokens = await self._tokens()
        caller = tokens.get(presented) if presented else None
        if caller is not None:
            self._limit(f"token:{caller.token_hash}", caller.name, scope["path"])
        elif presented is not None:
            self._limit(f"client:{address}", address, scope["path"])
        if not tokens and not self.always_required:
            return None  # no token yet: the API is open (bound to loopback)
        if caller is None:
            log.debug(
                "%s bearer token from %s for %s",
                "missing" if authorization is None else "invalid",
                address,
                scope["path"],
            )
            raise Refused(_unauthenticated(authorization))
        _check_scope(caller, scope["method"], scope["path"])
        await self.tokens.used(caller)
        return caller

    async def _tokens(self) -> dict[str, ActiveToken]:
        try:
            return await self.tokens.tokens()
        except Exception as exc:
            log.warning("API tokens unavailable: %s: %s", type(exc).__name__, exc)
            raise Refused(
                refuse(503, "cannot check API tokens now: the database did not answer")
            ) from None

    def _limit(self, bucket: str, who: str, path: str) -> None:
        wait = self.limiter.take(bucket)
        if wait <= 0:
            return
        seconds = max(1, math.ceil(wait))
        log.debug("rate limited %s (%s)", who, path)
        raise Refused(
            refuse(
                429,
                f"too many requests: {self.rate_text} per token (per client address without "
                f"one); retry in {seconds}s",
                {"Retry-After": str(seconds)},
                reason="rate_limited",
            )
        )


def _presented(authorization: str | None) -> str | None:
    """The hash of the token an `Authorization: Bearer <token>` header presents, if any."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return hash_token(credentials.strip())


def _unauthenticated(authorization: str | None) -> JSONResponse:
    if authorization is None:
        return refuse(
            401,
            "this API needs a token: send `Authorization: Bearer <token>` "
            "(an operator creates one with `pulse token create`)",
            {"WWW-Authenticate": REALM},
            reason="unauthenticated",
        )
    return refuse(
        401,
        "the bearer token is not valid: unknown, revoked or malformed",
        {"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        reason="unauthenticated",
    )


def _check_scope(caller: ActiveToken, method: str, path: str) -> None:
    needed = READ if method in READ_METHODS else WRITE
    if caller.allows(needed):
        return
    log.debug("token %r (scope %s) refused %s", caller.name, caller.scope, path)
    raise Refused(
        refuse(
            403,
            f"token {caller.name!r} has scope {caller.scope}; {method} {path} needs scope {needed}",
            {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
            reason="forbidden",
        )
    )
