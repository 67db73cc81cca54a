"""Silences need a write token to be created or expired; a read token lists them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import UpSettings
from services.scoring import tokens
from tests.helpers.alert_factories import silence_body
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer


async def test_a_read_token_cannot_create_or_expire_asilence_body(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    async with scoring(api_settings(), engine) as api:
        writer = await tokens.create_token(engine, "ops", tokens.WRITE)
        reader = await tokens.create_token(engine, "dashboard", tokens.READ)
        refused = await api.post("/v1/silences", json=silence_body(), headers=bearer(reader))
        assert refused.status_code == 403
        created = await api.post("/v1/silences", json=silence_body(), headers=bearer(writer))
        silence_id = created.json()["silenceID"]
        listed = await api.get("/v1/silences", headers=bearer(reader))
        assert [s["id"] for s in listed.json()] == [silence_id]
        expiring = await api.delete(f"/v1/silences/{silence_id}", headers=bearer(reader))
        assert expiring.status_code == 403
