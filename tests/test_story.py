"""The trigger catalogue end to end, as a new user meets it: `pulse up` as a process on the
real broker and PostgreSQL, sixty days of fourteen accounts' history sent through the input
topics a day at a time (tests/story.py), Slack stood in by a local server, email through a
real SMTP server. Exactly the story's triggers fire, once each, by Slack and by email, and
exactly its ended episodes go out again as resolved events on cs.triggers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import NotYet, wait_for
from shared.config import Topics
from shared.kafka import EmbeddedBroker
from tests.helpers.pipeline import TopicCounter, e2e_env, produce, settled
from tests.helpers.processes import pulse_up
from tests.helpers.servers import SmtpServer
from tests.story import Story, build, story_now


@pytest.fixture
def env(
    broker: EmbeddedBroker,
    database_url: str,
    topics: Topics,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> dict[str, str]:
    return e2e_env(
        broker,
        database_url,
        topics,
        slack_server,
        smtp_server,
        "story",
        # The accounts in their first 30 days and the day after the history are the tick's:
        # a tick every two seconds rather than every minute.
        PULSE_TICK_SECONDS="2",
        PULSE_WATERMARK_IDLE_SECONDS="30",  # the contract's, while the default is off
    )


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


def account_type(dedup_key: str) -> tuple[str, str]:
    account, kind, _ = dedup_key.split(":", 2)
    return account, kind


@pytest.mark.timeout(600)
async def test_sixty_days_of_fourteen_accounts_fire_exactly_their_story(
    env: dict[str, str],
    engine: AsyncEngine,
    topics: Topics,
    producer: AIOKafkaProducer,
    broker: EmbeddedBroker,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    story = build(story_now())
    expected_total = story.expected.total()
    async with (
        pulse_up(env) as (_, api),
        TopicCounter(broker, [topics.signals, topics.dead_letter]) as forwarded,
    ):
        sent = await produce(producer, topics, story.records)
        for day in story.in_order():
            sent += await produce(producer, topics, day)

            async def passed_on(total: int = sent) -> bool:
                return await forwarded.count() >= total

            await wait_for(passed_on, what=f"ingest to pass on {sent} events")

        async def delivered() -> bool | NotYet:
            posted = Counter(
                account_type(m.body["metadata"]["event_payload"]["dedup_key"])
                for m in slack_server.posted()
            )
            mailed = len(smtp_server.messages)
            if posted.total() >= expected_total and mailed >= expected_total:
                return True
            return NotYet(f"{mailed} mailed; posted: {_difference(posted, story.expected)}")

        # The day after the history (today) is judged once the topics have gone quiet
        # (the watermark's 30 idle seconds) and the tick comes.
        await wait_for(delivered, timeout=180, interval=0.5, what="the story's alerts")
        await settled(engine, env, broker, topics)
        assert await forwarded.count() == sent  # every event applied, none dead-lettered
        await _assert_exactly_the_story(api, story, slack_server, smtp_server)
        assert await _resolved_on_the_topic(broker, topics) == story.resolved


async def _assert_exactly_the_story(
    api: httpx.AsyncClient, story: Story, slack: SlackServer, smtp: SmtpServer
) -> None:
    listed = (await api.get("/v1/triggers?limit=500")).json()["triggers"]
    fired = Counter(account_type(t["dedup_key"]) for t in listed)
    assert fired == story.expected, _difference(fired, story.expected)
    keys = sorted(t["dedup_key"] for t in listed)
    posted = [m.body["metadata"]["event_payload"]["dedup_key"] for m in slack.posted()]
    assert sorted(posted) == keys  # each once, by Slack
    assert sorted(str(m.message["X-Pulse-Dedup-Key"]) for m in smtp.messages) == keys
    csms = {t["dedup_key"]: t["account"]["csm"] for t in listed}
    assert {m.body["channel"] for m in slack.posted()} == {c["slack"] for c in csms.values()}


async def _resolved_on_the_topic(
    broker: EmbeddedBroker, topics: Topics
) -> Counter[tuple[str, str]]:
    """The distinct resolved events on cs.triggers, by (account, type): read to the end (as
    many records as the topic holds, counted apart)."""
    async with TopicCounter(broker, [topics.triggers]) as counter:
        total = await wait_for(counter.count, what="the trigger events")
        total = await counter.count()
    consumer = AIOKafkaConsumer(
        topics.triggers, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    resolved: dict[str, tuple[str, str]] = {}
    read = 0
    try:
        while read < total:
            batch = await consumer.getmany(timeout_ms=1000)
            read += sum(len(records) for records in batch.values())
            for records in batch.values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event["status"] == "resolved":
                        resolved[event["trigger_id"]] = account_type(event["dedup_key"])
    finally:
        await consumer.stop()
    return Counter(resolved.values())


def _difference(got: Counter[Any], wanted: Counter[Any]) -> str:
    return f"unexpected: {dict(got - wanted)}; missing: {dict(wanted - got)}"
