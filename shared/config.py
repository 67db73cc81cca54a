"""Configuration every service shares: environment variables with the PULSE_ prefix (see
docs/contract.md) for Kafka, the database, topics and logging.

Each service declares its own settings on this base (services/<name>/settings.py), so `pulse up`
can combine them and each service still validates only what it needs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigurationError

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DatabaseSslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


class Topics(BaseSettings):
    """Topic names; every one is configurable so tests and tenants can isolate themselves."""

    model_config = SettingsConfigDict(
        env_prefix="PULSE_TOPIC_", extra="ignore", env_ignore_empty=True
    )

    product_usage: str = "cs.product-usage"
    logins: str = "cs.logins"
    support: str = "cs.support"
    surveys: str = "cs.surveys"
    accounts: str = "cs.accounts"
    stakeholders: str = "cs.stakeholders"
    signals: str = "cs.signals"
    triggers: str = "cs.triggers"
    dead_letter: str = "cs.dead-letter"

    def inputs(self) -> list[str]:
        return [
            self.product_usage,
            self.logins,
            self.support,
            self.surveys,
            self.accounts,
            self.stakeholders,
        ]

    def all(self) -> list[str]:
        return [*self.inputs(), self.signals, self.triggers, self.dead_letter]


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap_servers: str | None = None
    # How long the group waits for a silent member before moving its partitions elsewhere;
    # also how long a restarted member may wait to get its partitions back.
    kafka_session_timeout_ms: int = Field(default=10000, ge=1000)
    # Transport security to Kafka (docs/operations.md, Transport security); every client the
    # services create gets these through shared.kafka.client_options.
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None  # unset: the system's trusted CAs
    kafka_ssl_certfile: str | None = None  # a client certificate, for brokers that ask for one
    kafka_ssl_keyfile: str | None = None
    database_url: str = "sqlite+aiosqlite:///./pulse.db"
    # Connections each process keeps to PostgreSQL (a fixed pool: beyond it, work waits).
    database_pool_size: int = Field(default=20, ge=1)
    # TLS to PostgreSQL (shared.db.engine.database_ssl); unset leaves it to the URL and asyncpg.
    database_ssl_mode: DatabaseSslMode | None = None
    database_ssl_root_cert: str | None = None  # unset: the system's trusted CAs
    database_ssl_cert: str | None = None
    database_ssl_key: str | None = None
    topics: Topics = Field(default_factory=Topics)
    # Partitions used when the service creates a missing topic (scale-out limit per group).
    topic_partitions: int = Field(default=8, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    consumer_group_prefix: str = "pulse"
    # Largest accepted message value; bigger ones are dead-lettered.
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Batch bounds for every consumer loop: records per poll and how long a poll may wait.
    batch_max_records: int = Field(default=20000, ge=1)
    batch_max_wait_ms: int = Field(default=100, ge=0)
    # `pulse up` without PULSE_KAFKA_BOOTSTRAP_SERVERS starts a broker here; `pulse demo`
    # finds it here.
    embedded_broker_port: int = 9092
    log_level: str = "INFO"
    # Serves /metrics here instead of on the API (standalone ingest and alerts have no API).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def group(self, service: str) -> str:
        return f"{self.consumer_group_prefix}-{service}"

    @model_validator(mode="after")
    def _check_transport(self) -> BaseServiceSettings:
        # A ConfigurationError is not wrapped by pydantic: the CLI prints it and exits 2.
        _check_kafka_transport(self)
        _check_database_transport(self)
        return self


def _check_kafka_transport(s: BaseServiceSettings) -> None:
    protocol = f"PULSE_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol}"
    sasl = s.kafka_security_protocol.startswith("SASL_")
    tls = s.kafka_security_protocol.endswith("SSL")
    if s.kafka_security_protocol != "PLAINTEXT" and not s.kafka_bootstrap_servers:
        raise ConfigurationError(
            f"{protocol} needs PULSE_KAFKA_BOOTSTRAP_SERVERS: the embedded broker speaks "
            "PLAINTEXT only"
        )
    credentials = s.kafka_sasl_username is not None, s.kafka_sasl_password is not None
    if sasl and not all(credentials):
        raise ConfigurationError(
            f"{protocol} needs both PULSE_KAFKA_SASL_USERNAME and PULSE_KAFKA_SASL_PASSWORD"
        )
    if not sasl and any(credentials):
        # Otherwise the credentials would be ignored and the client would connect anonymously.
        raise ConfigurationError(
            f"PULSE_KAFKA_SASL_USERNAME/PASSWORD are set but {protocol} does not authenticate: "
            "use SASL_SSL (or SASL_PLAINTEXT)"
        )
    files = {
        "PULSE_KAFKA_SSL_CAFILE": s.kafka_ssl_cafile,
        "PULSE_KAFKA_SSL_CERTFILE": s.kafka_ssl_certfile,
        "PULSE_KAFKA_SSL_KEYFILE": s.kafka_ssl_keyfile,
    }
    if not tls and any(files.values()):
        given = ", ".join(name for name, path in files.items() if path)
        raise ConfigurationError(f"{given}: {protocol} does not use TLS (use SSL or SASL_SSL)")
    if s.kafka_ssl_keyfile and not s.kafka_ssl_certfile:
        raise ConfigurationError("PULSE_KAFKA_SSL_KEYFILE needs PULSE_KAFKA_SSL_CERTFILE")
    _check_readable(files)


def _check_database_transport(s: BaseServiceSettings) -> None:
    files = {
        "PULSE_DATABASE_SSL_ROOT_CERT": s.database_ssl_root_cert,
        "PULSE_DATABASE_SSL_CERT": s.database_ssl_cert,
        "PULSE_DATABASE_SSL_KEY": s.database_ssl_key,
    }
    configured = s.database_ssl_mode is not None or any(files.values())
    if configured and s.database_url.startswith("sqlite"):
        # Refused rather than ignored: whoever asked for TLS expects their data to get it.
        raise ConfigurationError(
            "PULSE_DATABASE_SSL_* apply to PostgreSQL only, and PULSE_DATABASE_URL is SQLite"
        )
    if any(files.values()) and s.database_ssl_mode in (None, "disable", "prefer"):
        mode = s.database_ssl_mode or "unset"
        raise ConfigurationError(
            f"PULSE_DATABASE_SSL_ROOT_CERT/CERT/KEY need PULSE_DATABASE_SSL_MODE require, "
            f"verify-ca or verify-full (it is {mode})"
        )
    if s.database_ssl_key and not s.database_ssl_cert:
        raise ConfigurationError("PULSE_DATABASE_SSL_KEY needs PULSE_DATABASE_SSL_CERT")
    _check_readable(files)


def _check_readable(files: dict[str, str | None]) -> None:
    for name, path in files.items():
        if path is None:
            continue
        try:
            with open(path, "rb") as file:
                file.read(1)
        except OSError as exc:
            reason = exc.strerror or exc
            raise ConfigurationError(f"{name}={path} cannot be read: {reason}") from None
