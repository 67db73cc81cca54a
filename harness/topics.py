"""Topics for one run: names no other run uses, created on the broker before the services
start and deleted (best effort) after."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient

from harness.errors import HarnessError
from shared.config import BaseServiceSettings, Topics
from shared.kafka import client_options, ensure_topics

log = logging.getLogger(__name__)

CREATE_TIMEOUT = 60.0


def named_topics(prefix: str) -> Topics:
    """Every topic named `prefix.<field>`: a fresh prefix gives topics no one else uses."""
    return Topics(**{field: f"{prefix}.{field}" for field in Topics.model_fields})


async def create_topics(
    bootstrap: str, topics: Topics, partitions: int, replication_factor: int = 1
) -> None:
    settings = BaseServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        topics=topics,
        topic_partitions=partitions,
        topic_replication_factor=replication_factor,
    )
    try:
        async with asyncio.timeout(CREATE_TIMEOUT):
            await ensure_topics(settings)
    except TimeoutError:
        raise HarnessError(
            f"the broker at {bootstrap} did not create topics within {CREATE_TIMEOUT:.0f}s"
        ) from None


async def delete_topics(bootstrap: str, topics: Topics) -> None:
    """Best effort: a run's topics are of no use once it is over (and an external broker
    should not keep them)."""
    settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=30000)
    try:
        async with asyncio.timeout(30):
            await admin.start()
            await admin.delete_topics(topics.all())
    except Exception as exc:  # cleanup only: never hide the run's own result or error
        log.debug("could not delete topics %s: %s", topics.all(), exc)
    finally:
        await admin.close()
