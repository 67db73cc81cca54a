"""Transport security to Kafka through the factory every service uses,
shared.kafka.client_options (TLS, SASL).

Live, against real servers (tests/helpers/transport.py): Kafka over TLS, one-way and mutual,
through a TLS-terminating proxy in front of a private Tansu; SASL SCRAM-SHA-512 against a Tansu
that requires it.

Not live: a SASL login that succeeds. Tansu keeps SCRAM users in its storage, this build has
memory storage only, and with --authentication it answers nothing but the SASL requests until
a client has logged in, including the request that creates users: no user can ever exist. The
live tests therefore show the SCRAM-SHA-512 exchange being made and refused; the keyword
arguments of a successful login are checked by the unit tests below.
"""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.cli import UpSettings
from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError
from shared.kafka import (
    client_options,
    create_consumer,
    create_producer,
    describe_transport,
    ensure_topics,
)
from tests.helpers.transport import (
    Certs,
    from_env,
    private_tansu,
)

PASSWORD = f"kafka-pw-{uuid.uuid4().hex}"


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
