"""Transport security through the factories every service uses: shared.kafka.client_options
for Kafka (TLS, SASL) and shared.db.engine.database_ssl for PostgreSQL (TLS).

Live, against real servers (tests/transport.py): Kafka over TLS, one-way and mutual, through a
TLS-terminating proxy in front of a private Tansu; SASL SCRAM-SHA-512 against a Tansu that
requires it; PostgreSQL over TLS against a private server with ssl=on.

Not live: a SASL login that succeeds. Tansu keeps SCRAM users in its storage, this build has
memory storage only, and with --authentication it answers nothing but the SASL requests until
a client has logged in, including the request that creates users: no user can ever exist. The
live tests therefore show the SCRAM-SHA-512 exchange being made and refused; the keyword
arguments of a successful login are checked by the unit tests below.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from sqlalchemy import text

from services.cli import UpSettings
from shared.config import BaseServiceSettings
from shared.db.engine import create_engine, database_ssl
from shared.errors import ConfigurationError
from shared.kafka import (
    client_options,
    create_consumer,
    create_producer,
    describe_transport,
    ensure_topics,
)
from tests.helpers.database import PG_ADMIN_DSN
from tests.helpers.processes import run_pulse
from tests.helpers.transport import (
    Certs,
    from_env,
    make_certs,
    openssl_missing,
    postgres_missing,
    private_postgres,
    private_tansu,
)

PASSWORD = f"kafka-pw-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if reason := openssl_missing():
        pytest.skip(reason)
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_postgres(certs: Certs) -> Iterator[str]:
    if reason := postgres_missing():
        pytest.skip(reason)
    with private_postgres(certs) as url:
        yield url


SASL_SSL = {
    "PULSE_KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example.com:9096",
    "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "PULSE_KAFKA_SASL_USERNAME": "pulse",
    "PULSE_KAFKA_SASL_PASSWORD": PASSWORD,
}


# -- Kafka: settings to client options ---------------------------------------------------------


def test_plaintext_is_the_default_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, PULSE_KAFKA_BOOTSTRAP_SERVERS="k:9092")
    assert client_options(settings) == {
        "bootstrap_servers": "k:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_scram_sha_512_gives_credentials_and_a_verifying_tls_context(
    monkeypatch: pytest.MonkeyPatch, certs: Certs
) -> None:
    settings = from_env(monkeypatch, **SASL_SSL, PULSE_KAFKA_SSL_CAFILE=str(certs.ca))
    options = client_options(settings)
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "kafka-1.example.com:9096",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "pulse",
        "sasl_plain_password": PASSWORD,
    }
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert subjects == [{"commonName": "AccountPulse test ca"}]
    assert describe_transport(settings) == "SASL_SSL, SCRAM-SHA-512 as 'pulse'"


def test_without_a_ca_file_tls_trusts_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    # Confluent Cloud and MSK brokers present certificates from public CAs.
    context = client_options(from_env(monkeypatch, **SASL_SSL))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_sasl_plaintext_and_ssl_each_get_only_their_part(monkeypatch: pytest.MonkeyPatch) -> None:
    sasl = from_env(
        monkeypatch,
        **{**SASL_SSL, "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
        PULSE_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
    )
    assert "ssl_context" not in client_options(sasl)
    assert client_options(sasl)["sasl_mechanism"] == "SCRAM-SHA-256"
    tls = from_env(
        monkeypatch, PULSE_KAFKA_BOOTSTRAP_SERVERS="k:9093", PULSE_KAFKA_SECURITY_PROTOCOL="SSL"
    )
    assert set(client_options(tls)) == {"bootstrap_servers", "security_protocol", "ssl_context"}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"PULSE_KAFKA_SASL_USERNAME": None},
            "PULSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs both PULSE_KAFKA_SASL_USERNAME and "
            "PULSE_KAFKA_SASL_PASSWORD",
        ),
        (
            {"PULSE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
            "PULSE_KAFKA_SASL_USERNAME/PASSWORD are set but PULSE_KAFKA_SECURITY_PROTOCOL="
            "PLAINTEXT does not authenticate",
        ),
        (
            {"PULSE_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            "PULSE_KAFKA_SSL_CAFILE=/nonexistent/ca.pem cannot be read: No such file",
        ),
        (
            {"PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PULSE_KAFKA_SSL_CAFILE": "x"},
            "PULSE_KAFKA_SSL_CAFILE: PULSE_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS",
        ),
        (
            {"PULSE_KAFKA_SSL_KEYFILE": "/etc/hostname"},
            "PULSE_KAFKA_SSL_KEYFILE needs PULSE_KAFKA_SSL_CERTFILE",
        ),
        (
            {"PULSE_KAFKA_BOOTSTRAP_SERVERS": None},
            "PULSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs PULSE_KAFKA_BOOTSTRAP_SERVERS: the "
            "embedded broker speaks PLAINTEXT only",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None], says: str
) -> None:
    merged = {k: v for k, v in {**SASL_SSL, **env}.items() if v is not None}
    with pytest.raises(ConfigurationError) as refused:
        from_env(monkeypatch, **merged)
    assert says in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_a_file_that_is_not_a_ca_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    settings = from_env(monkeypatch, **SASL_SSL, PULSE_KAFKA_SSL_CAFILE=str(junk))
    with pytest.raises(ConfigurationError, match="PULSE_KAFKA_SSL_CAFILE has no usable CA"):
        client_options(settings)


def test_the_sasl_password_is_a_secret_everywhere_but_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = from_env(monkeypatch, **SASL_SSL)
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert PASSWORD not in shown
    assert PASSWORD not in describe_transport(settings)


# -- Kafka, live -------------------------------------------------------------------------------


async def round_trip(settings: BaseServiceSettings) -> None:
    """Create a topic, produce a record and read it back, with the services' own factories."""
    topic = f"transport-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    value = uuid.uuid4().bytes
    producer = create_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    consumer = create_consumer(settings, f"transport-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == value


def tls_settings(bootstrap: str, ca: Path, **extra: Any) -> UpSettings:
    return UpSettings(
        kafka_bootstrap_servers=bootstrap,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(ca),
        topic_partitions=1,
        **extra,
    )


async def test_kafka_over_tls_round_trip(certs: Certs) -> None:
    async with private_tansu(certs=certs) as broker:
        await round_trip(tls_settings(broker.bootstrap, certs.ca))


async def test_kafka_tls_against_a_ca_that_did_not_sign_the_broker_fails_clearly(
    certs: Certs,
) -> None:
    async with private_tansu(certs=certs) as broker:
        with pytest.raises(ConfigurationError) as refused:
            await ensure_topics(tls_settings(broker.bootstrap, certs.other_ca), ["t"])
    message = str(refused.value)
    assert f"cannot connect to Kafka at {broker.bootstrap} (SSL)" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "PULSE_KAFKA_SSL_CAFILE" in message


async def test_kafka_mutual_tls_needs_the_client_certificate(certs: Certs) -> None:
    async with private_tansu(certs=certs, client_ca=certs.ca) as broker:
        with pytest.raises(ConfigurationError, match="cannot connect to Kafka"):
            await ensure_topics(tls_settings(broker.bootstrap, certs.ca), ["t"])
        await round_trip(
            tls_settings(
                broker.bootstrap,
                certs.ca,
                kafka_ssl_certfile=str(certs.client_cert),
                kafka_ssl_keyfile=str(certs.client_key),
            )
        )


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_a_sasl_scram_sha_512_login_the_broker_refuses_fails_clearly(
    certs: Certs, protocol: str
) -> None:
    tls = protocol == "SASL_SSL"
    async with private_tansu(certs=certs if tls else None, authentication=True) as broker:
        # The broker does enforce authentication: a client without SASL gets nothing.
        with pytest.raises(ConfigurationError):
            await ensure_topics(
                UpSettings(
                    kafka_bootstrap_servers=broker.bootstrap,
                    kafka_security_protocol="SSL" if tls else "PLAINTEXT",
                    kafka_ssl_cafile=str(certs.ca) if tls else None,
                ),
                ["t"],
            )
        assert "NotAuthenticated" in broker.output()
        settings = UpSettings(
            kafka_bootstrap_servers=broker.bootstrap,
            kafka_security_protocol=protocol,
            kafka_sasl_username="pulse",
            kafka_sasl_password=PASSWORD,
            kafka_ssl_cafile=str(certs.ca) if tls else None,
        )
        with pytest.raises(ConfigurationError) as refused:
            await ensure_topics(settings, ["t"])
        # The mechanism was accepted (Tansu logs NoSharedMechanism otherwise); the login not.
        assert "NoSharedMechanism" not in broker.output()
    message = str(refused.value)
    assert f"({protocol}, SCRAM-SHA-512 as 'pulse')" in message
    assert "the SASL exchange failed" in message
    assert "PULSE_KAFKA_SASL_PASSWORD" in message
    assert PASSWORD not in message


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
