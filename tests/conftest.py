"""Real parts for every test: one Tansu broker per session, one PostgreSQL database per run
(created here, dropped at the end), fresh topics and consumer groups per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import migrate, schema
from services.cli import UpSettings
from shared.config import Topics
from shared.db.engine import create_engine
from shared.kafka import EmbeddedBroker, ensure_topics

PG_ADMIN_DSN = os.environ.get("PULSE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    await embedded.start()
    yield embedded
    embedded.stop()


@contextlib.asynccontextmanager
async def fresh_database(prefix: str = "pulse_test") -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
    tag = uuid.uuid4().hex[:8]
    return Topics(**{field: f"t{tag}.{field}" for field in Topics.model_fields})


@pytest.fixture
async def settings_factory(
    broker: EmbeddedBroker, database_url: str, topics: Topics
) -> AsyncIterator[Callable[..., UpSettings]]:
    """Settings for services under test: this test's topics and group, the run's database,
    grouping and polling short so tests run in seconds."""
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
    }

    def make(**overrides: Any) -> UpSettings:
        return UpSettings(**{**base, **overrides})

    await ensure_topics(make())
    yield make


async def wait_for(
    check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll an async or sync check until it returns something truthy; fail with `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check} (last: {result!r})"
            )
        await asyncio.sleep(interval)


from tests.servers import mail_archive, slack_server, smtp_server  # noqa: E402,F401
