"""Changing a topic's partition count on the test broker, and accounts that a change moves.

Tansu (the test broker) does not implement CreatePartitions: it closes the connection on the
request. A count is changed by deleting the topic and creating it again, which also replaces
its log (the consumers notice that and resume at the new log's start).
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness.waiting import wait_for
from shared.kafka import key_hash


async def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        await admin.delete_topics([topic])

        async def gone() -> bool:
            return topic not in await admin.list_topics()

        await wait_for(gone, timeout=10, what=f"{topic} deleted")
        await admin.create_topics([NewTopic(topic, partitions, 1)])
        await asyncio.sleep(0.2)
    finally:
        await admin.close()


def partition_of(account_id: str, partitions: int) -> int:
    return key_hash(account_id.encode()) % partitions


def accounts_moved(old: int, new: int, count: int = 1, prefix: str = "moved") -> list[str]:
    """Account ids whose partition under `new` partitions differs from the one under `old`."""
    found = []
    n = 0
    while len(found) < count:
        account_id = f"{prefix}-{n}"
        if partition_of(account_id, old) != partition_of(account_id, new):
            found.append(account_id)
        n += 1
    return found


def accounts_kept(old: int, new: int, count: int = 1, prefix: str = "kept") -> list[str]:
    """Account ids whose partition is the same under both counts."""
    found = []
    n = 0
    while len(found) < count:
        account_id = f"{prefix}-{n}"
        if partition_of(account_id, old) == partition_of(account_id, new):
            found.append(account_id)
        n += 1
    return found
