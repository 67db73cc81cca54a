"""The signals topic's partition count changed under stored accounts, on the real broker and
PostgreSQL: scoring refuses to consume, `pulse accounts repartition` moves the accounts, and
then every account keeps its history."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import usage
from harness.waiting import wait_for
from migrations import migrate
from services.cli import UpSettings
from services.scoring.accounts.apply import apply_signal, refresh_health
from services.scoring.accounts.layout import PartitionLayout
from services.scoring.accounts.repository import (
    account_row,
    record_first_partitions,
    recorded_partitions,
    store_accounts,
)
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import load
from services.scoring.tables import accounts
from shared.db.engine import create_engine
from shared.deadletter import REASON, headers_of
from shared.errors import PartitionsChanged
from shared.kafka import EmbeddedBroker, free_port
from tests.helpers.in_process import scoring
from tests.helpers.partitions import accounts_kept, accounts_moved, partition_of, recreate_topic
from tests.helpers.processes import run_pulse


async def used(api: httpx.AsyncClient, account_id: str) -> float | None:
    response = await api.get(f"/v1/accounts/{account_id}")
    if response.status_code != 200:
        return None
    return response.json()["usage"].get("api_calls", {}).get("used")


def split_account(old: int, new: int) -> str:
    """An account that moves to the other of two instances: their round-robin assignment
    gives one the even partitions and the other the odd, so its partition under `old` and
    its partition under `new` differ in parity (never so from 4 to 8: hence 4 to 5 here)."""
    n = 0
    while (partition_of(f"acct-{n}", old) - partition_of(f"acct-{n}", new)) % 2 == 0:
        n += 1
    return f"acct-{n}"


async def store_history(engine: AsyncEngine, account_id: str, partitions: int) -> None:
    """The account as scoring stores it under `partitions`: 50 api_calls so far."""
    state = AccountState(account_id, partition_of(account_id, partitions))
    for _ in range(5):
        signal = usage(account_id, 0, metric="api_calls", value=10)
        apply_signal(state, signal, load(None), DedupWindow(3600), arrived=time.time())
    refresh_health(state, load(None).top)
    async with engine.begin() as conn:
        await store_accounts(conn, [account_row(state)])


async def test_a_new_partition_count_is_refused_until_the_accounts_are_moved(
    broker: EmbeddedBroker, settings_factory: Any, engine: AsyncEngine, database_url: str
) -> None:
    first = settings_factory(api_port=free_port())
    second = settings_factory(api_port=free_port())
    signals = first.topics.signals
    moved = split_account(4, 5)
    await store_history(engine, moved, 4)
    await record_first_partitions(engine, 4)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:

        async def send(signal: dict[str, Any], partitions: int) -> None:
            """As a producer routing by this many partitions sends it."""
            value, key = orjson.dumps(signal), moved.encode()
            partition = partition_of(moved, partitions)
            await producer.send_and_wait(signals, value, key=key, partition=partition)

        await recreate_topic(broker.bootstrap, signals, 5)
        with pytest.raises(PartitionsChanged, match="has 5 partitions, but the accounts are st"):
            async with scoring(first, engine):
                pass
        assert await _stored_partition(engine, moved) == partition_of(moved, 4)

        done = await run_pulse(
            "accounts",
            "repartition",
            env={
                "PULSE_DATABASE_URL": database_url,
                "PULSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "PULSE_TOPIC_SIGNALS": signals,
            },
        )
        assert done.code == 0, done.err
        assert "1 of 1 accounts moved to their partition of 5" in done.out
        assert await _stored_partition(engine, moved) == partition_of(moved, 5)

        async with contextlib.AsyncExitStack() as stack:
            api = await stack.enter_async_context(scoring(first, engine))
            await stack.enter_async_context(scoring(second, engine))
            await send(usage(moved, 1, metric="api_calls", value=1), 5)
            await wait_for(lambda: _is(api, moved, 51.0), what="the event after the history")
            # A producer still routing by 4 partitions: the partition's owner does not hold
            # the account and must not start it blank.
            stale = usage(moved, 2, metric="api_calls", value=1000)
            await send(stale, 4)
            [letter] = await _dead_letters(broker, first, count=1)
            assert letter.value == orjson.dumps(stale)
            assert "belongs to partition" in headers_of(letter)[REASON]
            assert await used(api, moved) == 51.0
    finally:
        await producer.stop()


async def _is(api: httpx.AsyncClient, account_id: str, value: float) -> bool:
    return await used(api, account_id) == value


async def _stored_partition(engine: AsyncEngine, account_id: str) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(accounts.c.partition).where(accounts.c.account_id == account_id)
        )


async def _dead_letters(
    broker: EmbeddedBroker, settings: UpSettings, count: int
) -> list[ConsumerRecord]:
    reader = AIOKafkaConsumer(
        settings.topics.dead_letter,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await reader.start()
    got: list[ConsumerRecord] = []
    try:

        async def enough() -> bool:
            batch = await reader.getmany(timeout_ms=200)
            got.extend(r for records in batch.values() for r in records)
            return len(got) >= count

        await wait_for(enough, what=f"{count} dead letters")
    finally:
        await reader.stop()
    return got


async def test_repartition_on_sqlite_moves_the_accounts_and_records_the_count(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pulse.db'}"
    engine = create_engine(url)
    try:
        await migrate(engine)
        [moved], [kept] = accounts_moved(4, 8), accounts_kept(4, 8)
        for account_id in (moved, kept):
            await store_history(engine, account_id, 4)
        await record_first_partitions(engine, 4)
        states = await _states(engine)
        layout = PartitionLayout(engine, "cs.signals", lambda: 8)
        with pytest.raises(PartitionsChanged, match="has 8 partitions, but the accounts are st"):
            await layout.check(8)

        done = await run_pulse(
            "accounts",
            "repartition",
            env={"PULSE_DATABASE_URL": url, "PULSE_TOPIC_PARTITIONS": "8"},
        )
        assert done.code == 0, done.err
        assert "1 of 2 accounts moved to their partition of 8" in done.out
        assert "PULSE_TOPIC_PARTITIONS" in done.out
        for account_id in (moved, kept):
            assert await _stored_partition(engine, account_id) == partition_of(account_id, 8)
        assert await _states(engine) == states
        await layout.check(8)
    finally:
        await engine.dispose()


async def test_accounts_stored_before_a_count_was_recorded_are_checked(
    engine: AsyncEngine,
) -> None:
    for account_id in accounts_moved(4, 8, count=3) + accounts_kept(4, 8, count=3):
        await store_history(engine, account_id, 4)
    layout = PartitionLayout(engine, "cs.signals", lambda: 8)
    with pytest.raises(PartitionsChanged, match="3 of 6 stored accounts checked"):
        await layout.check(8)
    assert await recorded_partitions(engine) is None
    await layout.check(4)
    assert await recorded_partitions(engine) == 4


async def _states(engine: AsyncEngine) -> dict[str, bytes]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(accounts.c.account_id, accounts.c.state))).all())
