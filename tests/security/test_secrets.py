"""Secrets never show: `pulse up` runs with API tokens, a database password, a Slack token and
an SMTP password configured and logging at DEBUG; auth fails in every way, deliveries fail
with errors that quote the Slack token, and a bad database URL stops the services; a Kafka SASL
password goes to a broker that refuses the login, or with settings that cannot work. None of
the secret values may appear in the output, the API's answers, /metrics or the stored errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.tables import deliveries
from services.scoring import tokens
from shared.config import Topics
from shared.kafka import EmbeddedBroker, free_port
from tests.helpers.alert_factories import produce, trigger
from tests.helpers.processes import bearer, pulse_env, pulse_up, run_pulse
from tests.helpers.servers import MailArchiveServer
from tests.helpers.transport import private_tansu


def _with_password(url: str, password: str) -> str:
    """The run's database URL with a password (the test server trusts local connections, so
    the password is configured but never checked)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


async def test_secrets_stay_out_of_logs_answers_metrics_and_stored_errors(
    broker: EmbeddedBroker,
    database_url: str,
    engine: AsyncEngine,
    topics: Topics,
    settings_factory: Any,
    slack_server: SlackServer,
    mail_archive: MailArchiveServer,
) -> None:
    db_password = f"dbpw{uuid.uuid4().hex}"
    slack_token = f"xoxb-{uuid.uuid4().hex}"
    smtp_password = f"smtp{uuid.uuid4().hex}"
    writer = await tokens.create_token(engine, "ops", tokens.WRITE)
    reader = await tokens.create_token(engine, "dashboard", tokens.READ)
    secrets = {
        "write token": writer,
        "read token": reader,
        "database password": db_password,
        "Slack token": slack_token,
        "SMTP password": smtp_password,
        "IMAP password": mail_archive.password,
    }
    env = pulse_env(
        bootstrap=broker.bootstrap,
        database_url=_with_password(database_url, db_password),
        topics=topics,
        group_prefix=f"sec{uuid.uuid4().hex[:8]}",
        PULSE_LOG_LEVEL="DEBUG",
        PULSE_SLACK_BOT_TOKEN=slack_token,
        PULSE_SLACK_API_URL=slack_server.url,
        PULSE_SMTP_HOST="127.0.0.1",
        PULSE_SMTP_PORT=str(free_port()),  # nothing listens: every send fails and retries
        PULSE_SMTP_USERNAME="pulse",
        PULSE_SMTP_PASSWORD=smtp_password,
        PULSE_SMTP_STARTTLS="false",
        # Every email retry logs in to the archive (and finds nothing there).
        PULSE_EMAIL_ARCHIVE_ADDRESS=mail_archive.address,
        PULSE_IMAP_HOST=mail_archive.host,
        PULSE_IMAP_PORT=str(mail_archive.port),
        PULSE_IMAP_TLS="false",
        PULSE_IMAP_USERNAME=mail_archive.username,
        PULSE_IMAP_PASSWORD=mail_archive.password,
    )
    # Slack refuses the first message with an error that quotes the token.
    slack_server.error_next(1, f"invalid_auth: token {slack_token} was revoked")
    seen: list[str] = []

    async with pulse_up(env) as (pulse, api):

        async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = await api.request(method, path, **kwargs)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
            return response

        put = await call(
            "PUT",
            "/v1/accounts/acme",
            json={"name": "Acme Corp", "csm": {"email": "sam@vendor.example", "slack": "U1"}},
            headers=bearer(writer),
        )
        assert put.status_code == 200, put.text
        # Auth failing every way, each secret offered as a token.
        assert (await call("GET", "/v1/accounts")).status_code == 401
        for secret in [*secrets.values(), writer[:-1]]:
            failed = await call("GET", "/v1/accounts", headers=bearer(secret[::-1]))
            assert failed.status_code == 401
            basic = {"Authorization": f"Basic {secret}"}
            assert (await call("GET", "/v1/triggers", headers=basic)).status_code == 401
        forbidden = await call("PUT", "/v1/accounts/acme", json={}, headers=bearer(reader))
        assert forbidden.status_code == 403

        # A trigger to deliver: Slack fails for good, email keeps failing.
        event = trigger("acme")
        await produce(settings_factory(), event)

        async def failed_both() -> list[dict[str, Any]] | None:
            query = select(deliveries).where(deliveries.c.dedup_key == event["dedup_key"])
            async with engine.connect() as conn:
                rows = [dict(r._mapping) for r in await conn.execute(query)]
            errors = [r for r in rows if r["last_error"]]
            retried = any(r["channel"] == "email" and r["attempts"] >= 2 for r in rows)
            return rows if len(errors) == 2 and retried else None

        rows = await wait_for(failed_both, timeout=30, what="both deliveries to fail")
        metrics = await call("GET", "/metrics", headers=bearer(reader))
        assert metrics.status_code == 200
        assert 'pulse_api_rejected_total{reason="unauthenticated"}' in metrics.text
        await call("GET", "/readyz")

    output = pulse.output()
    stored = repr(rows)
    for what, secret in secrets.items():
        assert secret not in output, f"the {what} is in the log"
        assert secret not in stored, f"the {what} is in a stored delivery error"
        for answer in seen:
            assert secret not in answer, f"the {what} is in an API answer"
    # The paths that could have leaked were taken: the URL was logged, redacted; the Slack
    # error was logged and stored, scrubbed.
    assert "postgres:***@127.0.0.1" in output
    assert "invalid_auth: token *** was revoked" in output
    assert "invalid_auth: token *** was revoked" in stored
    assert mail_archive.logins() >= 1  # the email retry searched the archive


async def test_a_bad_database_url_never_shows_its_password(
    broker: EmbeddedBroker, database_url: str
) -> None:
    password = f"dbpw{uuid.uuid4().hex}"
    server = database_url.rsplit("/", 1)[0].split("@", 1)[1]
    urls = [
        f"postgresql+asyncpg://pulse:{password}@127.0.0.1:{free_port()}/pulse",  # nobody there
        f"postgresql+asyncpg://postgres:{password}@{server}/no_such_db_{uuid.uuid4().hex[:6]}",
        f"postgresql+asyncpg://nobody_{uuid.uuid4().hex[:6]}:{password}@{server}/postgres",
        f"postgresql+asyncpg//pulse:{password}@127.0.0.1/pulse",  # malformed
        f"postgresql+nosuchdriver://pulse:{password}@127.0.0.1/pulse",
    ]
    runs = []
    for n, url in enumerate(urls):
        env = {
            "PULSE_DATABASE_URL": url,
            "PULSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "PULSE_LOG_LEVEL": "DEBUG",
        }
        command = ["scoring"] if n % 2 == 0 else ["token", "list"]
        runs.append(run_pulse(*command, env=env))
    for run in await asyncio.gather(*runs):
        assert run.code != 0
        assert run.err  # it says why
        assert password not in run.out + run.err, run.err[-2000:]


async def test_the_kafka_sasl_password_never_shows(database_url: str) -> None:
    """Services started with PULSE_KAFKA_SASL_PASSWORD, logging at DEBUG, stop with a reason
    that names the variables, never the password: when the broker refuses the SCRAM login, and
    when the settings cannot work. (A service that logs in and runs cannot be shown here: the
    test broker can hold no SASL user, see tests/test_kafka_transport.py. Metrics carry no
    setting.)"""
    password = f"kafkapw{uuid.uuid4().hex}"
    async with private_tansu(authentication=True) as sasl_broker:
        sasl = {
            "PULSE_KAFKA_BOOTSTRAP_SERVERS": sasl_broker.bootstrap,
            "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "PULSE_KAFKA_SASL_USERNAME": "pulse",
            "PULSE_KAFKA_SASL_PASSWORD": password,
            "PULSE_DATABASE_URL": database_url,
            "PULSE_LOG_LEVEL": "DEBUG",
        }
        cases = [
            (["ingest"], sasl, "the SASL exchange failed"),
            (["up"], sasl, "the SASL exchange failed"),
            (
                ["alerts"],
                {**sasl, "PULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
                | {"PULSE_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
                "PULSE_KAFKA_SSL_CAFILE=/nonexistent/ca.pem cannot be read",
            ),
            (
                ["scoring"],
                {**sasl, "PULSE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
                "PULSE_KAFKA_SASL_USERNAME/PASSWORD are set but",
            ),
        ]
        runs = await asyncio.gather(*(run_pulse(*cmd, env=env) for cmd, env, _ in cases))
    for (command, _, says), run in zip(cases, runs, strict=True):
        assert run.code == 2, (command, run.err[-2000:])
        assert says in run.err, (command, run.err[-2000:])
        assert password not in run.out + run.err, command
