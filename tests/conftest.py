"""Real parts for every test: one Tansu broker per session, one PostgreSQL database per run
(created here, dropped at the end), fresh topics and consumer groups per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.topics import named_topics
from migrations import schema
from services.cli import UpSettings
from services.scoring.compiled import stale_sources
from shared.config import Topics
from shared.db.engine import create_engine
from shared.kafka import EmbeddedBroker, ensure_topics
from tests.helpers.database import fresh_database
from tests.helpers.servers import MailArchiveServer, SmtpServer
from tests.helpers.transport import Certs, make_certs, openssl_missing


def pytest_configure(config: pytest.Config) -> None:
    if stale := stale_sources():
        raise pytest.UsageError(
            f"{', '.join(stale)} changed since scoring's core was compiled, and the compiled "
            "module would run instead: build it again (pip install -e .), or remove the "
            "compiled modules (git clean -fX services) to run it as plain Python"
        )


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    await embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The run's database, emptied before each test so tests cannot see each other's rows."""
    engine = create_engine(database_url)
    names = ", ".join(t.name for metadata in schema() for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names}"))
    yield engine
    await engine.dispose()


@pytest.fixture
def topics() -> Topics:
    """Topic names no other test uses."""
    return named_topics(f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def settings_factory(
    broker: EmbeddedBroker, database_url: str, topics: Topics
) -> AsyncIterator[Callable[..., UpSettings]]:
    """Settings for services under test: this test's topics and group, the run's database,
    grouping and polling short so tests run in seconds, Slack unpaced (tests send bursts to
    one CSM; tests/alerts/test_pace.py tests the pacing)."""
    group_prefix = f"g{uuid.uuid4().hex[:8]}"
    base: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "database_url": database_url,
        "topics": topics,
        "topic_partitions": 4,
        "kafka_session_timeout_ms": 6000,
        "consumer_group_prefix": group_prefix,
        "batch_max_wait_ms": 50,
        "delivery_poll_seconds": 0.1,
        "delivery_backoff_base_seconds": 0.2,
        "delivery_backoff_max_seconds": 1.0,
        "slack_channel_interval_seconds": 0,
    }

    def make(**overrides: Any) -> UpSettings:
        return UpSettings(**{**base, **overrides})

    await ensure_topics(make())
    yield make


def _served(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    yield from _served(SlackServer())


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from _served(SmtpServer())


@pytest.fixture
def mail_archive() -> Iterator[MailArchiveServer]:
    yield from _served(MailArchiveServer())


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if reason := openssl_missing():
        pytest.skip(reason)
    return make_certs(tmp_path_factory.mktemp("certs"))
