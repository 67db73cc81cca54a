"""API bearer tokens: create, list, revoke, verify (the `pulse token` command and the API).

A token is 32 random bytes (URL-safe base64, after a `pulse_` prefix). Only its SHA-256 is
stored: a fast hash is enough for a random secret of that size, and it lets the API find a
token by its hash. The plaintext exists once, in the output of `pulse token create`.

Scopes: `read` allows GET routes; `write` allows every route.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import api_tokens
from shared.clock import as_utc, utcnow
from shared.db.engine import read_rows

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
PREFIX = "pulse_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class TokenError(Exception):
    """A token operation that cannot be done as asked (the message says why)."""


@dataclass(frozen=True)
class ActiveToken:
    """An unrevoked token as the API knows it: never the token itself."""

    token_hash: str
    name: str
    scope: str

    def allows(self, needed: str) -> bool:
        return self.scope == WRITE or needed == READ


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise TokenError(
            f"invalid token name {name!r}: 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


async def create_token(engine: AsyncEngine, name: str, scope: str) -> str:
    """Store a new token and return its plaintext (the only time it is available)."""
    check_name(name)
    if scope not in SCOPES:
        raise TokenError(f"invalid scope {scope!r}: read or write")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(api_tokens).values(
                    token_hash=hash_token(token), name=name, scope=scope, created_at=utcnow()
                )
            )
    except IntegrityError:
        raise TokenError(
            f"a token named {name!r} exists and is not revoked: revoke it first "
            f"(pulse token revoke {name}) or choose another name"
        ) from None
    return token


async def list_tokens(engine: AsyncEngine) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    query = select(
        api_tokens.c.name,
        api_tokens.c.scope,
        api_tokens.c.created_at,
        api_tokens.c.last_used_at,
        api_tokens.c.revoked_at,
    ).order_by(api_tokens.c.created_at, api_tokens.c.name)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        TokenInfo(
            name=r.name,
            scope=r.scope,
            created_at=as_utc(r.created_at),
            last_used_at=as_utc(r.last_used_at) if r.last_used_at else None,
            revoked_at=as_utc(r.revoked_at) if r.revoked_at else None,
        )
        for r in rows
    ]


async def revoke_token(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if result.rowcount == 0:
        raise TokenError(f"no unrevoked token named {name!r} (see pulse token list)")


async def active_tokens(engine: AsyncEngine) -> dict[str, ActiveToken]:
    """Every unrevoked token, by hash."""
    query = select(api_tokens.c.token_hash, api_tokens.c.name, api_tokens.c.scope).where(
        api_tokens.c.revoked_at.is_(None)
    )
    rows = await read_rows(engine, query)
    return {r.token_hash: ActiveToken(r.token_hash, r.name, r.scope) for r in rows}


async def verify_token(engine: AsyncEngine, token: str) -> ActiveToken | None:
    """The unrevoked token with this plaintext, if any (one query; the API caches instead)."""
    query = select(api_tokens.c.token_hash, api_tokens.c.name, api_tokens.c.scope).where(
        api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return ActiveToken(row.token_hash, row.name, row.scope) if row else None


async def mark_used(engine: AsyncEngine, token_hash: str, when: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_hash == token_hash)
            .values(last_used_at=when)
        )
