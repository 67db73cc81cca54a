"""Fixtures for fault tests: one clean run of the shared workload per session, the reference
every faulty run is compared with."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Topics
from shared.db.engine import create_engine
from shared.kafka import EmbeddedBroker
from tests.faults.harness import (
    Observer,
    create_topics,
    drive,
    fresh_database,
    fresh_topics,
    settle,
    snapshot,
)
from tests.faults.workload import Workload, build
from tests.pulse_process import pulse_env, pulse_up
from tests.servers import MailArchiveServer, SlackServer, SmtpServer

WORKLOAD = build(seed=7)
# Outage tests stream a shorter workload: the fault, not the volume, is what they exercise.
SMALL = build(seed=11, accounts=100, days=16)


@dataclass
class Run:
    """One run's private world: database, topics, groups, receivers, and a topic reader."""

    bootstrap: str
    database_url: str
    topics: Topics
    group_prefix: str
    engine: AsyncEngine
    slack: SlackServer
    smtp: SmtpServer
    archive: MailArchiveServer  # the relay files a Bcc of every email here (as deployed)
    observer: Observer

    def env(self, **extra: str) -> dict[str, str]:
        return pulse_env(
            bootstrap=self.bootstrap,
            database_url=self.database_url,
            topics=self.topics,
            group_prefix=self.group_prefix,
            PULSE_SLACK_BOT_TOKEN="xoxb-fault-token",
            PULSE_SLACK_API_URL=self.slack.url,
            PULSE_SMTP_HOST=self.smtp.host,
            PULSE_SMTP_PORT=str(self.smtp.port),
            PULSE_SMTP_STARTTLS="false",
            PULSE_EMAIL_ARCHIVE_ADDRESS=self.archive.address,
            PULSE_IMAP_HOST=self.archive.host,
            PULSE_IMAP_PORT=str(self.archive.port),
            PULSE_IMAP_TLS="false",
            PULSE_IMAP_USERNAME=self.archive.username,
            PULSE_IMAP_PASSWORD=self.archive.password,
            PULSE_DELIVERY_BACKOFF_BASE_SECONDS="0.2",
            PULSE_DELIVERY_BACKOFF_MAX_SECONDS="1.0",
            # Wall-clock ticks would differ between runs; the workload's accounts are never
            # live by the wall clock anyway.
            PULSE_TICK_SECONDS="3600",
            # The snapshot reads three routes per account; the API's rate limit would only
            # make it wait (tests/security checks the limit itself).
            PULSE_API_RATE_PER_SECOND="0",
            **extra,
        )

    async def drive(self, workload: Workload, **kwargs: Any) -> None:
        await drive(workload, self.bootstrap, self.topics, self.observer, **kwargs)

    async def settle(self, timeout: float = 120.0) -> None:
        await settle(
            self.engine,
            self.group_prefix,
            self.topics,
            self.observer,
            self.slack,
            self.smtp,
            timeout,
        )

    async def snapshot(self, api: Any, workload: Workload) -> dict[str, Any]:
        return await snapshot(api, self.engine, workload, self.slack, self.smtp)


@contextlib.asynccontextmanager
async def private_run(bootstrap: str, database_url: str | None = None) -> AsyncIterator[Run]:
    """A fresh world; `database_url` overrides the URL the services get (a proxy's)."""
    slack, smtp, archive = SlackServer(), SmtpServer(), MailArchiveServer()
    slack.start()
    smtp.start()
    archive.start()
    smtp.archive = archive
    topics = fresh_topics()
    await create_topics(bootstrap, topics)
    observer = Observer(bootstrap, topics)
    await observer.start()
    try:
        async with fresh_database() as url:
            engine = create_engine(url)
            try:
                yield Run(
                    bootstrap=bootstrap,
                    database_url=url,
                    topics=topics,
                    group_prefix=f"f{uuid.uuid4().hex[:8]}",
                    engine=engine,
                    slack=slack,
                    smtp=smtp,
                    archive=archive,
                    observer=observer,
                )
            finally:
                await engine.dispose()
    finally:
        await observer.stop()
        slack.stop()
        smtp.stop()
        archive.stop()


@pytest.fixture
async def run(broker: EmbeddedBroker) -> AsyncIterator[Run]:
    async with private_run(broker.bootstrap) as fresh:
        yield fresh


async def clean_run(bootstrap: str, workload: Workload) -> dict[str, Any]:
    """The workload run once without faults: what every faulty run must equal."""
    started = time.monotonic()
    async with private_run(bootstrap) as reference, pulse_up(reference.env()) as (_, api):
        await reference.drive(workload)
        await reference.settle()
        result = await reference.snapshot(api, workload)
    print(f"clean run: {workload.events} events in {time.monotonic() - started:.1f}s")
    return result


@pytest.fixture(scope="session")
async def clean(broker: EmbeddedBroker) -> dict[str, Any]:
    return await clean_run(broker.bootstrap, WORKLOAD)


@pytest.fixture(scope="session")
async def clean_small(broker: EmbeddedBroker) -> dict[str, Any]:
    return await clean_run(broker.bootstrap, SMALL)
