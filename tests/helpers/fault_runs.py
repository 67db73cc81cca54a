"""Runs a workload through AccountPulse and reads back everything it produced, so a run with
faults can be compared record by record with a clean run.

Every run gets its own database, topics and consumer groups. The driver sends the workload a
step at a time and waits until ingest has passed each step on (counted by reading cs.signals,
never with end offsets, which Tansu gets wrong); `settle` waits until scoring and alerts have
stored everything and every delivery is finished; `snapshot` reads the result through the API,
the database and the Slack and SMTP stand-ins.

fault_checks.py compares what a run produced with the clean run and with the workload.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.topics import create_topics as topics_on_broker
from harness.topics import named_topics
from harness.waiting import NotYet, wait_for
from migrations import migrate
from services.alerts.tables import deliveries
from services.scoring.tables import triggers
from shared.config import Topics
from shared.db.engine import create_engine
from shared.db.tables import consumer_offsets
from tests.helpers import database
from tests.helpers.fault_workload import Workload
from tests.helpers.processes import pulse_env
from tests.helpers.servers import MailArchiveServer, SmtpServer

PARTITIONS = 4


def fresh_database() -> contextlib.AbstractAsyncContextManager[str]:
    return database.fresh_database("pulse_fault")


def fresh_topics() -> Topics:
    return named_topics(f"f{uuid.uuid4().hex[:8]}")


async def create_topics(bootstrap: str, topics: Topics) -> None:
    await topics_on_broker(bootstrap, topics, PARTITIONS)


@dataclass
class Observer:
    """Reads cs.signals and cs.triggers from the start, without a group (no join wait)."""

    bootstrap: str
    topics: Topics
    signal_ids: set[str] = field(default_factory=set)
    ends: dict[TopicPartition, int] = field(default_factory=dict)  # next offset read
    trigger_keys: Counter[str] = field(default_factory=Counter)
    resolved_keys: Counter[str] = field(default_factory=Counter)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=50,  # not Kafka's 500: the driver waits on what this reads
            # assign() starts a reset of its own, which can answer after seek_to_beginning's
            # and win: it must go to the beginning too (services/backtest.py).
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        parts = [
            TopicPartition(topic, p)
            for topic in (self.topics.signals, self.topics.triggers)
            for p in range(PARTITIONS)
        ]
        self._consumer.assign(parts)
        await self._consumer.seek_to_beginning(*parts)
        for tp in parts:
            self.ends[tp] = 0
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except Exception:  # the broker is away (an outage test): keep trying
                await asyncio.sleep(0.5)
                continue
            for tp, records in batch.items():
                for record in records:
                    value = orjson.loads(record.value)
                    if tp.topic == self.topics.signals:
                        self.signal_ids.add(value.get("signal_id") or "")
                        if value.get("kind") == "account":
                            self.signal_ids.add(f"account:{value['account_id']}")
                    elif value.get("status", "firing") == "firing":
                        self.trigger_keys[value["dedup_key"]] += 1
                    else:
                        self.resolved_keys[value["dedup_key"]] += 1
                    self.ends[tp] = record.offset + 1

    def ends_of(self, topic: str) -> dict[tuple[str, int], int]:
        return {(tp.topic, tp.partition): n for tp, n in self.ends.items() if tp.topic == topic}


Hook = Callable[[int], Awaitable[None]]


async def drive(
    workload: Workload,
    bootstrap: str,
    topics: Topics,
    observer: Observer,
    *,
    after_send: Hook | None = None,
    step_timeout: float = 90.0,
) -> None:
    """Send the accounts, then each step once ingest has passed on the one before.
    `after_send(i)` runs right after step i is sent (where faults are injected)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await _send(producer, topics, [("accounts", a) for a in workload.accounts])
        wanted = {f"account:{a['account_id']}" for a in workload.accounts}
        await wait_for(
            lambda: wanted <= observer.signal_ids, timeout=step_timeout, what="account signals"
        )
        for i, step in enumerate(workload.steps):
            await _send(producer, topics, step)
            if after_send is not None:
                await after_send(i)
            ids = {value["event_id"] for _, value in step}
            await wait_for(
                lambda ids=ids: ids <= observer.signal_ids,  # type: ignore[misc]
                timeout=step_timeout,
                interval=0.05,
                what=f"ingest to pass on step {i}",
            )
    finally:
        await producer.stop()


async def _send(producer: AIOKafkaProducer, topics: Topics, items: list[Any]) -> None:
    futures = []
    for topic_field, value in items:
        futures.append(
            await producer.send(
                getattr(topics, topic_field),
                orjson.dumps(value),
                key=value["account_id"].encode(),
            )
        )
    await asyncio.gather(*futures)


async def stored_offsets(engine: AsyncEngine, group_id: str) -> dict[tuple[str, int], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                consumer_offsets.c.topic,
                consumer_offsets.c.partition,
                consumer_offsets.c.next_offset,
            ).where(consumer_offsets.c.group_id == group_id)
        )
        return {(t, p): int(o) for t, p, o in rows}


async def settle(
    engine: AsyncEngine,
    group_prefix: str,
    topics: Topics,
    observer: Observer,
    slack: SlackServer,
    smtp: SmtpServer,
    timeout: float = 120.0,
) -> None:
    """Wait until everything sent has been scored, relayed, consumed and delivered."""

    async def behind(service: str, topic: str) -> dict[tuple[str, int], tuple[int | None, int]]:
        ends = {k: v for k, v in observer.ends_of(topic).items() if v}
        stored = await stored_offsets(engine, f"{group_prefix}-{service}")
        return {k: (stored.get(k), v) for k, v in ends.items() if stored.get(k) != v}

    async def done() -> bool | NotYet:
        if lag := await behind("scoring", topics.signals):
            return NotYet(f"scoring behind (stored, end): {lag}")
        async with engine.connect() as conn:
            fired = {k for (k,) in await conn.execute(select(triggers.c.dedup_key))}
            relayed = triggers.c.published.is_(False) | triggers.c.resolved_published.is_(False)
            unpublished = await conn.scalar(select(triggers.c.trigger_id).where(relayed).limit(1))
            statuses = Counter(
                s
                for (s,) in await conn.execute(
                    select(deliveries.c.status).where(deliveries.c.notice == "alert")
                )
            )
            alerted = await conn.scalar(
                select(func.count(deliveries.c.dedup_key.distinct())).where(
                    deliveries.c.notice == "alert"
                )
            )
            # Resolved notices, escalations: each settled too.
            notices_pending = await conn.scalar(
                select(deliveries.c.dedup_key)
                .where((deliveries.c.notice != "alert") & (deliveries.c.status == "pending"))
                .limit(1)
            )
        if unpublished is not None:
            return NotYet(f"trigger {unpublished} not relayed")
        if missing := fired - set(observer.trigger_keys):
            return NotYet(f"{len(missing)} triggers not seen on the topic, e.g. {min(missing)}")
        if lag := await behind("alerts", topics.triggers):
            return NotYet(f"alerts behind (stored, end): {lag}")
        if statuses.get("pending") or alerted != len(fired):
            return NotYet(f"deliveries {dict(statuses)} for {len(fired)} triggers")
        if notices_pending is not None:
            return NotYet(f"a notice of {notices_pending} pending")
        posted, mailed = len(slack.posted()), len(smtp.messages)
        if posted < len(fired) or mailed < len(fired):
            return NotYet(f"{posted} posted and {mailed} mailed for {len(fired)} triggers")
        return True

    await wait_for(done, timeout=timeout, interval=0.5, what="scoring, alerts and deliveries")
    await asyncio.sleep(2.0)  # anything that should not happen (a second send) has time to
    await wait_for(done, timeout=10, interval=0.5, what="a stable end")


async def snapshot(
    api: httpx.AsyncClient,
    engine: AsyncEngine,
    workload: Workload,
    slack: SlackServer,
    smtp: SmtpServer,
) -> dict[str, Any]:
    """Everything a run produced, free of wall-clock times, for comparison across runs."""
    accounts: dict[str, Any] = {}
    for account in workload.accounts:
        account_id = account["account_id"]
        view = await _get(api, f"/v1/accounts/{account_id}")
        health = await _get(api, f"/v1/accounts/{account_id}/health")
        people = await _get(api, f"/v1/accounts/{account_id}/stakeholders")
        for body in (view, health):
            body.pop("updated_at", None)
        accounts[account_id] = {"account": view, "health": health, "stakeholders": people}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(triggers))).all()
        fired = {
            row.dedup_key: (row.trigger_id, row.type, row.account_id, row.severity) for row in rows
        }
        resolved = {row.dedup_key: row.resolved_at for row in rows if row.resolved_at}
        stored = (await conn.execute(select(deliveries))).all()
        delivered = sorted(
            (row.dedup_key, row.channel, row.notice, row.status, row.trigger_id, row.recipient)
            for row in stored
        )
    return {
        "accounts": accounts,
        "triggers": fired,
        "resolved": resolved,
        "deliveries": delivered,
        "in_doubt": {
            (row.dedup_key, row.channel) for row in stored if row.in_doubt and row.notice == "alert"
        },
        "replies": Counter(
            (m.body["metadata"]["event_payload"]["dedup_key"], m.body["channel"])
            for m in slack.replies()
        ),
        # Per alert, in whichever message it went (a group's message holds several).
        "slack": Counter(
            (key, m.body["channel"])
            for m in slack.posted()
            for key in _keys_in(m.body["metadata"]["event_payload"])
        ),
        "email": Counter(
            (str(m.message["X-Pulse-Dedup-Key"]), tuple(m.rcpt_tos)) for m in smtp.messages
        ),
    }


def _keys_in(payload: dict[str, Any]) -> list[str]:
    keys: list[str] = payload.get("dedup_keys") or [payload["dedup_key"]]
    return keys


async def _get(api: httpx.AsyncClient, path: str) -> Any:
    """GET a JSON body, waiting out the API's rate limit (429 with Retry-After)."""
    for _ in range(30):
        response = await api.get(path)
        if response.status_code != 429:
            assert response.status_code == 200, (
                f"GET {path}: {response.status_code} {response.text}"
            )
            return response.json()
        await asyncio.sleep(float(response.headers.get("Retry-After") or 1))
    raise AssertionError(f"GET {path}: still rate-limited after 30 tries")


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
        settings = {
            "PULSE_SLACK_BOT_TOKEN": "xoxb-fault-token",
            "PULSE_SLACK_API_URL": self.slack.url,
            "PULSE_SMTP_HOST": self.smtp.host,
            "PULSE_SMTP_PORT": str(self.smtp.port),
            "PULSE_SMTP_STARTTLS": "false",
            "PULSE_EMAIL_ARCHIVE_ADDRESS": self.archive.address,
            "PULSE_IMAP_HOST": self.archive.host,
            "PULSE_IMAP_PORT": str(self.archive.port),
            "PULSE_IMAP_TLS": "false",
            "PULSE_IMAP_USERNAME": self.archive.username,
            "PULSE_IMAP_PASSWORD": self.archive.password,
            "PULSE_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
            "PULSE_DELIVERY_BACKOFF_MAX_SECONDS": "1.0",
            # Wall-clock ticks would differ between runs; the workload's accounts are never
            # live by the wall clock anyway (a live run sets its own).
            "PULSE_TICK_SECONDS": "3600",
            # Compared key by key with the clean run: with the watermark on, a key's date
            # depends on the order the topics were read (docs/contract.md, section 10,
            # "Watermark"), and test_kill runs kill -9 with it on to check what it keeps.
            "PULSE_WATERMARK_IDLE_SECONDS": "0",
            # The snapshot reads three routes per account; the API's rate limit would only
            # make it wait (tests/security checks the limit itself).
            "PULSE_API_RATE_PER_SECOND": "0",
        }
        return pulse_env(
            bootstrap=self.bootstrap,
            database_url=self.database_url,
            topics=self.topics,
            group_prefix=self.group_prefix,
            **{**settings, **extra},
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
async def private_run(bootstrap: str, sqlite_file: Path | None = None) -> AsyncIterator[Run]:
    """A fresh world: on a new PostgreSQL database, or on `sqlite_file` (`pulse up`'s
    default kind of database)."""
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
        async with _database(sqlite_file) as url:
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


@contextlib.asynccontextmanager
async def _database(sqlite_file: Path | None) -> AsyncIterator[str]:
    if sqlite_file is None:
        async with fresh_database() as url:
            yield url
        return
    url = f"sqlite+aiosqlite:///{sqlite_file}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    yield url
