"""Fresh PostgreSQL databases: created on the server through an admin connection, handed
out as the URL the services take (PULSE_DATABASE_URL), dropped with their connections at the
end. The benchmark makes one per process run, the tests one per run or per fault run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url

from harness.errors import HarnessError
from shared.db.engine import redact

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn(option: str | None, variable: str = "PULSE_BENCH_DATABASE_URL") -> str:
    """The option, else the environment variable, else the local server."""
    return option or os.environ.get(variable) or DEFAULT_ADMIN_DSN


def _plain(dsn: str, database: str | None = None) -> str:
    """A libpq-style URL asyncpg accepts, whatever driver the caller named."""
    url = make_url(dsn).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def child_url(admin: str, database: str) -> str:
    """The SQLAlchemy URL the services get (PULSE_DATABASE_URL)."""
    url = make_url(admin).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


async def server_version(admin: str) -> str:
    conn = await connect(admin)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def connect(dsn: str, database: str | None = None) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_plain(dsn, database), timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        where = redact(_plain(dsn, database))
        raise HarnessError(f"could not connect to PostgreSQL at {where}: {exc}") from None


@contextlib.asynccontextmanager
async def fresh_database(admin: str, name: str) -> AsyncIterator[str]:
    """CREATE DATABASE name; yield its services URL; DROP it (with its connections) after."""
    conn = await connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield child_url(admin, name)
    finally:
        conn = await connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
