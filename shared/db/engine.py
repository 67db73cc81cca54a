"""Engine construction; one engine per process, built at start-up and passed explicitly."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Executable, Row, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.clock import as_utc, utcnow
from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError
from shared.tls import load_client_certificate


def create_engine(
    url: str,
    connect_args: Mapping[str, Any] | None = None,
    *,
    pre_ping: bool = True,
    pool_size: int = 20,
) -> AsyncEngine:
    """`connect_args` go to the driver on every connection: database_ssl(settings) for the
    services. `pre_ping` tests each pooled connection before use (a round trip); without it a
    connection broken by a database restart fails one statement, and the pool is renewed.

    The pool is fixed (PULSE_DATABASE_POOL_SIZE): when every connection is busy, a request
    waits for one. Connections opened beyond the pool for a burst and closed after it would
    cost the API more CPU than its queries (a TLS attempt, a login, a close per request)."""
    extra = dict(connect_args or {})
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30, **extra})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_pre_ping=pre_ping, connect_args=extra
    )


async def read_rows(
    engine: AsyncEngine, statement: Executable, params: Mapping[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """Every row of one read. A read that met a connection the database had dropped (after
    a restart, in a pool that pings none before use) is tried once more: SQLAlchemy has
    renewed the pool by then, and a read is safe to repeat."""
    try:
        return await _read_once(engine, statement, params)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return await _read_once(engine, statement, params)


async def _read_once(
    engine: AsyncEngine, statement: Executable, params: Mapping[str, Any] | None
) -> Sequence[Row[Any]]:
    async with engine.connect() as conn:
        return (await conn.execute(statement, params)).all()


def database_ssl(settings: BaseServiceSettings) -> dict[str, Any]:
    """asyncpg's `ssl` argument for PULSE_DATABASE_SSL_MODE, as libpq's sslmode means it:

    disable and prefer are passed through by name (prefer: TLS if the server offers it, not
    verified); require encrypts and checks nothing, unless a root certificate is given, which
    it then verifies the chain against (libpq does the same); verify-ca also verifies the
    chain; verify-full also the host name. The chain is checked against
    PULSE_DATABASE_SSL_ROOT_CERT, or the system's CAs without one. Unset: nothing here, the
    URL and asyncpg decide. SQLite was refused with the settings."""
    mode = settings.database_ssl_mode
    if mode is None:
        return {}
    if mode in ("disable", "prefer"):
        return {"ssl": mode}
    verify = mode != "require" or settings.database_ssl_root_cert is not None
    return {"ssl": _ssl_context(settings, verify=verify, check_hostname=mode == "verify-full")}


def _ssl_context(
    settings: BaseServiceSettings, *, verify: bool, check_hostname: bool
) -> ssl.SSLContext:
    try:
        if verify:
            context = ssl.create_default_context(cafile=settings.database_ssl_root_cert)
            context.check_hostname = check_hostname
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    except ssl.SSLError as exc:
        raise ConfigurationError(f"PULSE_DATABASE_SSL_ROOT_CERT has no usable CA: {exc}") from None
    if settings.database_ssl_cert:
        load_client_certificate(
            context,
            settings.database_ssl_cert,
            settings.database_ssl_key,
            "PULSE_DATABASE_SSL_CERT / PULSE_DATABASE_SSL_KEY",
        )
    return context


def is_postgres(bind: AsyncEngine | AsyncConnection | Connection) -> bool:
    """PostgreSQL, rather than SQLite (the only two databases AccountPulse runs on)."""
    return bind.dialect.name == "postgresql"


async def database_now(conn: AsyncConnection) -> datetime:
    """The database's clock: one clock for every instance that shares the database. SQLite is
    on this very machine, whose clock it uses anyway."""
    if is_postgres(conn):
        moment = await conn.scalar(text("SELECT now()"))
        return as_utc(moment)
    return utcnow()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while scoring writes; busy_timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def redact(url: str) -> str:
    """The URL with its password hidden, for logs and errors."""
    return make_url(url).render_as_string(hide_password=True)
