"""`pulse token create | list | revoke` as a user runs it, and what it stores."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring import tokens
from services.scoring.tables import api_tokens


async def _stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(api_tokens))]


async def test_token_cli_creates_lists_and_revokes_without_showing_secrets(
    engine: AsyncEngine, pulse_token: Any
) -> None:
    created = await pulse_token("create", "--name", "ops", "--scope", "write")
    assert created.code == 0, created.err
    token = created.out.strip()
    assert token.startswith("pulse_") and len(token) >= 40 and "\n" not in token
    assert "only time the token is shown" in created.err

    # Stored hashed: the SHA-256 is there, the token is nowhere in the table.
    rows = await _stored(engine)
    assert [(r["name"], r["scope"]) for r in rows] == [("ops", "write")]
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(rows) and token[len("pulse_") :] not in repr(rows)

    # A name belongs to one unrevoked token; a second create is refused, with the fix.
    again = await pulse_token("create", "--name", "ops", "--scope", "read")
    assert again.code == 1 and "pulse token revoke ops" in again.err
    assert again.out == ""

    listed = await pulse_token("list")
    assert listed.code == 0, listed.err
    header, line = listed.out.splitlines()
    assert header.split() == ["NAME", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    assert line.split()[:2] == ["ops", "write"] and line.split()[-2:] == ["-", "-"]
    for secret in (token, rows[0]["token_hash"]):
        assert secret not in listed.out + listed.err

    revoked = await pulse_token("revoke", "ops")
    assert revoked.code == 0, revoked.err
    assert (await _stored(engine))[0]["revoked_at"] is not None
    listed = await pulse_token("list")
    assert listed.out.splitlines()[1].split()[-1].endswith("Z")  # the revocation time

    missing, bad_name, bad_scope = await asyncio.gather(
        pulse_token("revoke", "ops"),
        pulse_token("create", "--name", "two words"),
        pulse_token("create", "--name", "x", "--scope", "admin"),
    )
    assert missing.code == 1 and "no unrevoked token named 'ops'" in missing.err
    assert bad_name.code == 1 and "invalid token name" in bad_name.err
    assert bad_scope.code == 2 and "invalid choice: 'admin'" in bad_scope.err


async def test_a_revoked_name_can_be_reused_and_verify_knows_only_live_tokens(
    engine: AsyncEngine,
) -> None:
    old = await tokens.create_token(engine, "ops", tokens.WRITE)
    await tokens.revoke_token(engine, "ops")
    new = await tokens.create_token(engine, "ops", tokens.READ)
    assert await tokens.verify_token(engine, old) is None
    found = await tokens.verify_token(engine, new)
    assert found is not None and (found.name, found.scope) == ("ops", "read")
    assert await tokens.verify_token(engine, new + "x") is None
    listed = await tokens.list_tokens(engine)  # oldest first, revoked ones included
    assert [(t.name, t.scope, t.revoked_at is None) for t in listed] == [
        ("ops", "write", False),
        ("ops", "read", True),
    ]
    with pytest.raises(tokens.TokenError, match="read or write"):
        await tokens.create_token(engine, "other", "admin")
