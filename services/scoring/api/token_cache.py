"""The unrevoked API tokens, kept in memory so that checking a caller is no database round
trip, and the record of each token's last use."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tokens import ActiveToken, active_tokens, mark_used
from shared.clock import utcnow

log = logging.getLogger(__name__)

# last_used_at is written at most this often per token and process.
LAST_USED_EVERY_SECONDS = 60.0


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
