"""The alerts service: a consumer loop turning triggers into deliveries, and a worker sending
them (see consumer.py and worker.py).

Exactly once per (dedup_key, channel): a trigger read again (a redelivery, a restart, another
instance after a rebalance) or a duplicate trigger with another trigger_id but the same
dedup_key finds its delivery rows already there, and a delivery row is sent only by the
worker holding its lease, then marked done.

The one remaining window: a crash (or a lost database) after a receiver accepted an alert and
before its row is marked delivered. The lease then runs out, and the next attempt is marked
in doubt. Slack is asked first (the message carries the dedup_key in its metadata); SMTP
cannot be asked, so the email archive is (a Bcc mailbox searched over IMAP by Message-ID,
senders/archive.py). Without an archive the email goes once more, recognizably the same
message (its Message-ID and Date derive from the trigger). The worker keeps that window short
and few deliveries in it (docs/operations.md, "In-doubt deliveries").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import senders
from services.alerts.outcomes import scrubber
from services.alerts.processor import TriggerProcessor
from services.alerts.routing.live import LiveRoutes
from services.alerts.settings import AlertsSettings
from services.alerts.worker import DeliveryWorker
from shared.kafka import create_consumer, create_producer, create_reader, ensure_topics
from shared.logcheck import LogCheck
from shared.readiness import Readiness
from shared.streaming import ConsumerLoop

log = logging.getLogger(__name__)


async def run_alerts(
    settings: AlertsSettings, engine: AsyncEngine, readiness: Readiness, stop: asyncio.Event
) -> None:
    """Run until `stop` is set. Expects a migrated database (`pulse migrate`)."""
    topics = settings.topics
    await ensure_topics(settings, [topics.triggers, topics.dead_letter])
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=settings.delivery_timeout_seconds)
        )
        routes = LiveRoutes(settings.routes, readiness)
        channels = senders.build(settings, client, routes.in_use)
        producer = create_producer(settings)
        await producer.start()
        stack.push_async_callback(producer.stop)
        consumer = create_consumer(settings, settings.group("alerts"))
        await consumer.start()
        stack.push_async_callback(consumer.stop)

        worker = DeliveryWorker(
            settings=settings,
            engine=engine,
            senders=channels,
            readiness=readiness,
            scrub=scrubber(_secrets(settings)),
            routing=routes.in_use,
        )
        processor = TriggerProcessor(
            settings=settings,
            engine=engine,
            producer=producer,
            routing=routes.in_use,
            channels=list(channels),
            on_added=worker.nudge,
        )
        await processor.relay_dead_letters()  # left stored by a crash before their relay
        loop = ConsumerLoop(
            name="alerts",
            consumer=consumer,
            engine=engine,
            group_id=settings.group("alerts"),
            topics=[topics.triggers],
            processor=processor,
            readiness=readiness,
            log_check=LogCheck(partial(create_reader, settings)),
            max_records=settings.batch_max_records,
            max_wait_ms=settings.batch_max_wait_ms,
        )
        log.info("alerts: delivering to %s", ", ".join(channels))
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(loop.run(stop))
            tasks.create_task(worker.run(stop))
            tasks.create_task(routes.watch(stop))


def _secrets(settings: AlertsSettings) -> list[str | None]:
    return [
        settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        settings.imap_password.get_secret_value() if settings.imap_password else None,
    ]
