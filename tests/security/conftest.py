"""Security tests: the real scoring service (in-process or `pulse` as a child process) on the
session's broker and PostgreSQL, and the `pulse token` command as a user runs it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.cli import UpSettings
from shared.kafka import free_port
from tests.scoring.conftest import scoring_settings, send  # noqa: F401 (fixtures, for seeding)


@dataclass
class Run:
    """A finished `pulse` command."""

    code: int
    out: str
    err: str


async def run_pulse(*args: str, env: dict[str, str], timeout: float = 60) -> Run:
    """`python -m services.cli ARGS` with exactly these PULSE_ variables; never blocks the
    event loop (the service under test may share it)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        env={**environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


@pytest.fixture
def pulse_token(database_url: str) -> Callable[..., Any]:
    """pulse_token("create", "--name", "ops", ...) against the run's database."""

    async def run(*args: str) -> Run:
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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
