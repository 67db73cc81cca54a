"""Bearer tokens on the real scoring API: open until the first token, then 401 without a valid
one and 403 for a read token on a write route."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring import tokens
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer

ACME = {"name": "Acme Corp", "tier": 1}


def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail
    if status in (401, 403):
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_without_tokens_the_api_is_open(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    async with scoring(api_settings(), engine) as api:
        assert (await api.put("/v1/accounts/acme", json=ACME)).status_code in (200, 202)
        assert (await api.get("/v1/accounts")).status_code == 200
        assert (await api.get("/metrics")).status_code == 200
        # A stray token changes nothing while no token exists.
        assert (await api.get("/v1/triggers", headers=bearer("nonsense"))).status_code == 200


async def test_once_a_token_exists_every_v1_route_needs_one_with_the_right_scope(
    api_settings: Callable[..., UpSettings],
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with scoring(api_settings(), engine) as api:
        await api.put("/v1/accounts/acme", json=ACME)
        writer = await tokens.create_token(engine, "ops", tokens.WRITE)
        reader = await tokens.create_token(engine, "dashboard", tokens.READ)

        reads = [
            "/v1/accounts",
            "/v1/accounts/acme",
            "/v1/accounts/acme/health",
            "/v1/accounts/acme/stakeholders",
            "/v1/triggers",
            "/metrics",
        ]
        for path in reads:
            _refused(await api.get(path), 401, "Authorization: Bearer")
            _refused(await api.get(path, headers=bearer(writer + "x")), 401, "not valid")
            assert (await api.get(path, headers=bearer(reader))).status_code == 200, path
            assert (await api.get(path, headers=bearer(writer))).status_code == 200, path
        invalid = await api.get("/v1/accounts", headers={"Authorization": f"Basic {writer}"})
        _refused(invalid, 401)
        assert 'error="invalid_token"' in invalid.headers["WWW-Authenticate"]

        writes = [
            ("/v1/accounts/acme", ACME),
            ("/v1/accounts/acme/stakeholders/dana@acme.com", {"role": "champion"}),
        ]
        for path, body in writes:
            _refused(await api.put(path, json=body), 401)
            forbidden = await api.put(path, json=body, headers=bearer(reader))
            _refused(forbidden, 403, "'dashboard' has scope read", "needs scope write")
            assert 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]
            written = await api.put(path, json=body, headers=bearer(writer))
            assert written.status_code in (200, 202), written.text
        # A 401 comes before the body is even parsed.
        _refused(await api.put("/v1/accounts/acme", content=b"{not json"), 401)

        # Probes and the docs stay open.
        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/readyz")).status_code == 200
        schema = (await api.get("/openapi.json")).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["paths"]["/v1/triggers"]["get"]["security"] == [{"bearer": []}]
        assert "security" not in schema["paths"]["/healthz"]["get"]

        # Each use is recorded (at most once a minute per token and process).
        used = {t.name: t.last_used_at for t in await tokens.list_tokens(engine)}
        assert used["ops"] is not None and used["dashboard"] is not None

    for token in (writer, reader):
        assert token not in caplog.text
    assert "'dashboard' (scope read) refused" in caplog.text  # names only


async def test_a_revoked_token_is_refused_once_the_cache_window_passes(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    """Each instance re-reads the token table every PULSE_API_TOKEN_CACHE_SECONDS (default
    5): a revoked token keeps working at most that long. Here the window is 1 second."""
    async with scoring(api_settings(api_token_cache_seconds=1.0), engine) as api:
        token = await tokens.create_token(engine, "ops", tokens.WRITE)
        other = await tokens.create_token(engine, "other", tokens.READ)

        async def status(token: str) -> int:
            return (await api.get("/v1/accounts", headers=bearer(token))).status_code

        await wait_for(lambda: _is(status(token), 200), timeout=5, what="the new token")
        await tokens.revoke_token(engine, "ops")
        loop = asyncio.get_running_loop()
        revoked_at = loop.time()
        await wait_for(lambda: _is(status(token), 401), timeout=5, what="the revocation")
        assert loop.time() - revoked_at < 1.0 + 0.5
        assert await status(other) == 200

        # Revoking every token reopens a loopback-bound API (a first-run setup again).
        await tokens.revoke_token(engine, "other")
        await wait_for(lambda: _is(status("anything"), 200), timeout=5, what="reopening")


async def test_with_the_cache_off_a_revocation_is_immediate(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine, pulse_token: Any
) -> None:
    async with scoring(api_settings(api_token_cache_seconds=0), engine) as api:
        await tokens.create_token(engine, "keeper", tokens.READ)  # keeps the API closed
        created = await pulse_token("create", "--name", "ops", "--scope", "write")
        token = created.out.strip()
        assert (await api.get("/v1/accounts", headers=bearer(token))).status_code == 200
        assert (await pulse_token("revoke", "ops")).code == 0
        _refused(await api.get("/v1/accounts", headers=bearer(token)), 401, "not valid")


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)
