"""Sessions of the pages and one-time sign-in links, kept in the database so that any API
process knows them. A session stands for an API token: it sees and acts as that token's scope
allows, and ends when the token is revoked or the session expires.

Cookies and links are random secrets of which only the SHA-256 is stored, as with tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import api_tokens, ui_sessions, ui_sign_in_links
from services.scoring.tokens import hash_token
from shared.clock import as_utc
from shared.db.engine import read_rows


@dataclass(frozen=True)
class Session:
    token_hash: str
    csrf: str
    expires_at: datetime


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def open_session(
    engine: AsyncEngine, token_hash: str, now: datetime, lasts: timedelta
) -> tuple[str, Session]:
    """A new session for this token: the cookie's value (shown once) and the session."""
    cookie, session = new_secret(), Session(token_hash, new_secret(), now + lasts)
    async with engine.begin() as conn:
        # Expired sessions are swept here, at sign-in, rather than by a job of their own.
        await conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= now))
        await conn.execute(
            insert(ui_sessions).values(
                session_hash=hash_token(cookie),
                token_hash=token_hash,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return cookie, session


async def find_session(engine: AsyncEngine, cookie: str, now: datetime) -> Session | None:
    c = ui_sessions.c
    rows = await read_rows(
        engine,
        select(c.token_hash, c.csrf, c.expires_at).where(
            c.session_hash == hash_token(cookie), c.expires_at > now
        ),
    )
    if not rows:
        return None
    row = rows[0]
    return Session(row.token_hash, row.csrf, as_utc(row.expires_at))


async def close_session(engine: AsyncEngine, cookie: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            delete(ui_sessions).where(ui_sessions.c.session_hash == hash_token(cookie))
        )


async def create_link(engine: AsyncEngine, token_hash: str, now: datetime, lasts: timedelta) -> str:
    """A one-time sign-in code for this token (shown once)."""
    code = new_secret()
    async with engine.begin() as conn:
        await conn.execute(
            insert(ui_sign_in_links).values(
                link_hash=hash_token(code), token_hash=token_hash, expires_at=now + lasts
            )
        )
    return code


async def redeem_link(engine: AsyncEngine, code: str, now: datetime) -> str | None:
    """The token hash of an unused, unexpired link, which is used up by this; else None.
    One UPDATE decides, so two requests racing with one link cannot both sign in."""
    c = ui_sign_in_links.c
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                update(ui_sign_in_links)
                .where(c.link_hash == hash_token(code), c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now)
                .returning(c.token_hash)
            )
        ).first()
    return row.token_hash if row else None


async def link_for_token(
    engine: AsyncEngine, name: str, now: datetime, lasts: timedelta
) -> str | None:
    """A one-time sign-in code for the unrevoked token of this name; None if there is none."""
    t = api_tokens.c
    rows = await read_rows(
        engine, select(t.token_hash).where(t.name == name, t.revoked_at.is_(None))
    )
    return await create_link(engine, rows[0].token_hash, now, lasts) if rows else None
