"""The tests' PostgreSQL server and fresh databases on it: migrated to the head, or to a
given revision (for the tests of a migration)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

from alembic import command
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from harness import database
from migrations import alembic_config, migrate
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


@contextlib.asynccontextmanager
async def database_at(revision: str) -> AsyncIterator[AsyncEngine]:
    """A new database migrated up to `revision` only, as the code of that revision left it;
    dropped afterwards."""
    name = f"pulse_test_migration_{uuid.uuid4().hex[:10]}"
    async with database.fresh_database(PG_ADMIN_DSN, name) as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(to_revision(revision))
            yield engine
        finally:
            await engine.dispose()


def to_revision(revision: str, direction: str = "upgrade") -> Callable[[Connection], None]:
    """Alembic's upgrade (or downgrade) to `revision`, to run on a connection."""

    def run(connection: Connection) -> None:
        getattr(command, direction)(alembic_config(connection), revision)

    return run
