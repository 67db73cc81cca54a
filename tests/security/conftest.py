"""Security tests: the real scoring service (in-process or `pulse` as a child process) on the
session's broker and PostgreSQL, and the `pulse token` command as a user runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.cli import UpSettings
from shared.kafka import free_port
from tests.helpers.processes import Finished, run_pulse
from tests.scoring.conftest import scoring_settings, send  # noqa: F401 (fixtures, for seeding)


@pytest.fixture
def pulse_token(database_url: str) -> Callable[..., Any]:
    """pulse_token("create", "--name", "ops", ...) against the run's database."""

    async def run(*args: str) -> Finished:
        return await run_pulse("token", *args, env={"PULSE_DATABASE_URL": database_url})

    return run


@pytest.fixture
def api_settings(settings_factory: Callable[..., UpSettings]) -> Callable[..., UpSettings]:
    """Scoring settings on a free port; the token cache off unless a test sets it."""

    def make(**overrides: Any) -> UpSettings:
        base: dict[str, Any] = {
            "api_port": free_port(),
            "api_write_wait_seconds": 5,
            "api_token_cache_seconds": 0,
        }
        return settings_factory(**{**base, **overrides})

    return make
