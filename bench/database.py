"""PostgreSQL for the benchmark: a fresh database per process run, created on the server
through an admin connection and dropped at the end; and the one query that tells how far
scoring has come (its stored offsets)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url

from bench.errors import BenchError
from shared.db.engine import redact

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn(option: str | None) -> str:
    """--database-url, else PULSE_BENCH_DATABASE_URL, else the local server."""
    return option or os.environ.get("PULSE_BENCH_DATABASE_URL") or DEFAULT_ADMIN_DSN


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
    conn = await _connect(admin)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _connect(dsn: str, database: str | None = None) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_plain(dsn, database), timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        where = redact(_plain(dsn, database))
        raise BenchError(f"could not connect to PostgreSQL at {where}: {exc}") from None


@contextlib.asynccontextmanager
async def fresh_database(admin: str, name: str) -> AsyncIterator[str]:
    """CREATE DATABASE name; yield its services URL; DROP it (with its connections) after."""
    conn = await _connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield child_url(admin, name)
    finally:
        conn = await _connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class Progress:
    """Reads scoring's stored offsets: their sum over the signals topic's partitions is the
    number of signals whose effects are committed (offsets start at 0 on a fresh topic)."""

    def __init__(self, admin: str, database: str, group_id: str, topic: str) -> None:
        self.admin = admin
        self.database = database
        self.group_id = group_id
        self.topic = topic
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Progress:
        self._conn = await _connect(self.admin, self.database)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def committed(self) -> int:
        assert self._conn is not None
        try:
            value = await self._conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                "WHERE group_id = $1 AND topic = $2",
                self.group_id,
                self.topic,
            )
        except asyncpg.UndefinedTableError:
            return 0  # the service has not run its migrations yet
        return int(value)

    async def scalar(self, query: str) -> int:
        assert self._conn is not None
        return int(await self._conn.fetchval(query) or 0)
