"""Transport security to PostgreSQL through the factory every service uses,
shared.db.engine.database_ssl (TLS); live against a private server with ssl=on
(tests/helpers/transport.py)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from shared.config import BaseServiceSettings
from shared.db.engine import create_engine, database_ssl
from shared.errors import ConfigurationError
from tests.helpers.database import PG_ADMIN_DSN
from tests.helpers.processes import run_pulse
from tests.helpers.transport import (
    Certs,
    from_env,
    postgres_missing,
    private_postgres,
)


@pytest.fixture(scope="module")
def tls_postgres(certs: Certs) -> Iterator[str]:
    if reason := postgres_missing():
        pytest.skip(reason)
    with private_postgres(certs) as url:
        yield url


# -- PostgreSQL: settings to connect arguments ---------------------------------------------------


PG_URL = "postgresql+asyncpg://pulse@db.example.com/pulse"


def test_an_unset_ssl_mode_leaves_tls_to_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert database_ssl(from_env(monkeypatch, PULSE_DATABASE_URL=PG_URL)) == {}


@pytest.mark.parametrize(
    ("mode", "root", "verified", "hostname"),
    [
        ("require", False, False, False),
        ("require", True, True, False),  # libpq's rule: a root certificate is then checked
        ("verify-ca", True, True, False),
        ("verify-full", True, True, True),
        ("verify-full", False, True, True),  # against the system's CAs
    ],
)
def test_ssl_modes_map_to_what_libpq_means_by_them(
    monkeypatch: pytest.MonkeyPatch,
    certs: Certs,
    mode: str,
    root: bool,
    verified: bool,
    hostname: bool,
) -> None:
    env = {"PULSE_DATABASE_URL": PG_URL, "PULSE_DATABASE_SSL_MODE": mode}
    if root:
        env["PULSE_DATABASE_SSL_ROOT_CERT"] = str(certs.ca)
    context = database_ssl(from_env(monkeypatch, **env))["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode == ssl.CERT_REQUIRED) is verified
    assert context.check_hostname is hostname


@pytest.mark.parametrize("mode", ["disable", "prefer"])
def test_disable_and_prefer_are_passed_by_name(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    settings = from_env(monkeypatch, PULSE_DATABASE_URL=PG_URL, PULSE_DATABASE_SSL_MODE=mode)
    assert database_ssl(settings) == {"ssl": mode}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"PULSE_DATABASE_URL": "sqlite+aiosqlite:///./pulse.db"},
            "PULSE_DATABASE_SSL_* apply to PostgreSQL only, and PULSE_DATABASE_URL is SQLite",
        ),
        (
            {"PULSE_DATABASE_SSL_ROOT_CERT": "/nonexistent/root.crt"},
            "PULSE_DATABASE_SSL_ROOT_CERT=/nonexistent/root.crt cannot be read",
        ),
        (
            {"PULSE_DATABASE_SSL_MODE": "prefer", "PULSE_DATABASE_SSL_ROOT_CERT": "/etc/hostname"},
            "need PULSE_DATABASE_SSL_MODE require, verify-ca or verify-full (it is prefer)",
        ),
        (
            {"PULSE_DATABASE_SSL_KEY": "/etc/hostname"},
            "PULSE_DATABASE_SSL_KEY needs PULSE_DATABASE_SSL_CERT",
        ),
    ],
)
def test_database_tls_that_cannot_work_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    base = {"PULSE_DATABASE_URL": PG_URL, "PULSE_DATABASE_SSL_MODE": "verify-full"}
    with pytest.raises(ConfigurationError) as refused:
        from_env(monkeypatch, **{**base, **env})
    assert says in str(refused.value)


# -- PostgreSQL, live ----------------------------------------------------------------------------


async def session_tls(url: str, **tls: Any) -> tuple[bool, str | None]:
    """(encrypted?, the client certificate's DN) of a session opened by the services' engine."""
    settings = BaseServiceSettings(database_url=url, **tls)
    engine = create_engine(url, database_ssl(settings))
    try:
        async with engine.connect() as conn:
            query = "SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            encrypted, client_dn = (await conn.execute(text(query))).one()
    finally:
        await engine.dispose()
    return encrypted, client_dn


@pytest.mark.parametrize(
    ("mode", "encrypted"),
    [("disable", False), ("prefer", True), ("require", True), ("verify-ca", True)],
)
async def test_postgres_sessions_are_encrypted_as_the_mode_says(
    tls_postgres: str, certs: Certs, mode: str, encrypted: bool
) -> None:
    root = {"database_ssl_root_cert": str(certs.ca)} if mode == "verify-ca" else {}
    assert await session_tls(tls_postgres, database_ssl_mode=mode, **root) == (encrypted, None)


async def test_postgres_verify_full_with_the_right_ca_and_a_client_certificate(
    tls_postgres: str, certs: Certs
) -> None:
    encrypted, client_dn = await session_tls(
        tls_postgres,
        database_ssl_mode="verify-full",
        database_ssl_root_cert=str(certs.ca),
        database_ssl_cert=str(certs.client_cert),
        database_ssl_key=str(certs.client_key),
    )
    assert encrypted
    assert client_dn == "/CN=pulse-client"


async def test_postgres_verify_full_against_a_ca_that_did_not_sign_the_server_fails(
    tls_postgres: str, certs: Certs
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await session_tls(
            tls_postgres,
            database_ssl_mode="verify-full",
            database_ssl_root_cert=str(certs.other_ca),
        )


async def test_postgres_require_against_a_server_without_tls_fails(certs: Certs) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        ssl_on = await admin.fetchval("SHOW ssl")
    finally:
        await admin.close()
    if ssl_on == "on":
        pytest.skip("the test PostgreSQL has ssl=on")
    url = PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://")
    with pytest.raises(ConnectionError, match="rejected SSL upgrade"):
        await session_tls(url, database_ssl_mode="require")


async def test_pulse_migrate_connects_with_the_configured_tls(
    tls_postgres: str, certs: Certs
) -> None:
    """The command line builds its engine with database_ssl: verify-full against the wrong CA
    stops `pulse migrate` (the server would have taken a plain connection), the right CA
    lets it run."""
    env = {"PULSE_DATABASE_URL": tls_postgres, "PULSE_DATABASE_SSL_MODE": "verify-full"}
    wrong = await run_pulse(
        "migrate", env={**env, "PULSE_DATABASE_SSL_ROOT_CERT": str(certs.other_ca)}
    )
    # One line naming what to fix, not a traceback.
    assert wrong.code == 2, wrong.err[-2000:]
    assert "certificate verify failed" in wrong.err
    assert "PULSE_DATABASE_SSL_ROOT_CERT" in wrong.err and "Traceback" not in wrong.err
    right = await run_pulse("migrate", env={**env, "PULSE_DATABASE_SSL_ROOT_CERT": str(certs.ca)})
    assert right.code == 0, right.err[-2000:]
