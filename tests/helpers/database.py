"""The tests' PostgreSQL server and fresh, migrated databases on it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from harness import database
from migrations import migrate
from shared.db.engine import create_engine

PG_ADMIN_DSN = database.admin_dsn(None, "PULSE_TEST_PG_DSN")


@contextlib.asynccontextmanager
async def fresh_database(prefix: str = "pulse_test") -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    async with database.fresh_database(PG_ADMIN_DSN, name) as url:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url
