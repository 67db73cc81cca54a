"""The pipeline as the end-to-end tests drive it: producing contract events to the input
topics, counting what a topic holds, and waiting until scoring and alerts have taken in
everything."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from shared.config import Topics
from shared.kafka import EmbeddedBroker
from tests.helpers.processes import pulse_env
from tests.helpers.servers import SmtpServer


def e2e_env(
    broker: EmbeddedBroker,
    database_url: str,
    topics: Topics,
    slack: SlackServer,
    smtp: SmtpServer,
    prefix: str,
    **extra: str,
) -> dict[str, str]:
    """`pulse up`'s environment for an end-to-end run: Slack's stand-in and the SMTP server."""
    return pulse_env(
        bootstrap=broker.bootstrap,
        database_url=database_url,
        topics=topics,
        group_prefix=f"{prefix}{uuid.uuid4().hex[:8]}",
        PULSE_SLACK_BOT_TOKEN="xoxb-test-token",
        PULSE_SLACK_API_URL=slack.url,
        PULSE_SMTP_HOST=smtp.host,
        PULSE_SMTP_PORT=str(smtp.port),
        PULSE_SMTP_STARTTLS="false",
        **extra,
    )


async def produce(producer: AIOKafkaProducer, topics: Topics, items: Any) -> int:
    sent = []
    for topic_field, value in items:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        key = None if isinstance(value, bytes) else value["account_id"].encode()
        sent.append(await producer.send(getattr(topics, topic_field), raw, key=key))
    for future in sent:
        await future
    return len(sent)


class TopicCounter:
    """How many records a set of topics holds, counted by reading them. (Tansu answers
    ListOffsets with the wrong end for multi-record batches, so end_offsets cannot be used.)"""

    def __init__(self, broker: EmbeddedBroker, names: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            *names,
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            group_id=f"counter-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
        )
        self.total = 0

    async def __aenter__(self) -> TopicCounter:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def count(self) -> int:
        batch = await self.consumer.getmany(timeout_ms=100)
        self.total += sum(len(records) for records in batch.values())
        return self.total


async def settled(
    engine: AsyncEngine, env: dict[str, str], broker: EmbeddedBroker, topics: Topics
) -> None:
    """Wait for the evidence that nothing more will happen: scoring has stored offsets past
    every signal on the topic and relayed every trigger and dead letter it stored, alerts has
    stored offsets past every trigger, and no delivery is pending."""
    prefix = env["PULSE_CONSUMER_GROUP_PREFIX"]
    async with (
        TopicCounter(broker, [topics.signals]) as signals,
        TopicCounter(broker, [topics.triggers]) as relayed,
    ):

        async def done() -> bool:
            async with engine.connect() as conn:
                scoring = await stored_past(conn, f"{prefix}-scoring", topics.signals)
                alerts = await stored_past(conn, f"{prefix}-alerts", topics.triggers)
                waiting = await conn.scalar(
                    text(
                        "SELECT (SELECT count(*) FROM triggers"
                        "        WHERE NOT published OR NOT resolved_published)"
                        " + (SELECT count(*) FROM dead_letters WHERE NOT published)"
                        " + (SELECT count(*) FROM deliveries WHERE status = 'pending')"
                    )
                )
            return (scoring, alerts, waiting) == (await signals.count(), await relayed.count(), 0)

        await wait_for(done, timeout=60, what="scoring and alerts to have taken in everything")


async def stored_past(conn: Any, group: str, topic: str) -> int:
    """How many records of a fresh topic a group has stored its offsets past."""
    total = await conn.scalar(
        text(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
            " WHERE group_id = :group AND topic = :topic"
        ),
        {"group": group, "topic": topic},
    )
    return int(total)
