"""A signal scoring cannot apply, or an account it cannot store, costs that signal a dead
letter and nothing else: the account is as if the signal never came, its id is not remembered
(a corrected resend counts), and the partition moves on."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, at, usage
from services.scoring.accounts import repository
from services.scoring.accounts.packing import unpack_account
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.views import usage_view
from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from services.scoring.tables import accounts, triggers
from shared.config import Topics
from shared.db.tables import dead_letters
from shared.kafka import EmbeddedBroker, create_producer, ensure_topics
from shared.offsets import OffsetMoves, load_offsets


@pytest.fixture
async def processor(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> AsyncIterator[ScoringProcessor]:
    tag = uuid.uuid4().hex[:8]
    settings = ScoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_partitions=1,
        topics=Topics(
            signals=f"{tag}.signals", triggers=f"{tag}.triggers", dead_letter=f"{tag}.dead"
        ),
    )
    topics = settings.topics
    await ensure_topics(settings, [topics.signals, topics.triggers, topics.dead_letter])
    producer = create_producer(settings)
    await producer.start()
    try:
        processor = ScoringProcessor(settings, engine, producer)
        await processor.assign([_partition(processor)])
        yield processor
    finally:
        await producer.stop()


def _partition(processor: ScoringProcessor) -> TopicPartition:
    return TopicPartition(processor.settings.topics.signals, 0)


class Feed:
    """Signals as cs.signals records, at increasing offsets."""

    def __init__(self, processor: ScoringProcessor) -> None:
        self.processor = processor
        self.offset = 0

    def records(self, *signals: dict[str, Any]) -> list[ConsumerRecord]:
        tp, now = _partition(self.processor), int(time.time() * 1000)
        made = []
        for signal in signals:
            value = orjson.dumps(signal)
            record = (tp.topic, 0, self.offset, now, 0, b"", value, None, 0, len(value), [])
            made.append(ConsumerRecord(*record))
            self.offset += 1
        return made

    async def apply(self, *signals: dict[str, Any]) -> None:
        """One batch, processed and stored as the loop would."""
        stored = self.offset or None
        records = self.records(*signals)
        tp = _partition(self.processor)
        offsets = OffsetMoves("pulse-scoring")
        offsets.advance(tp, stored, records[-1])
        await (await self.processor.process({tp: records}, offsets))()


async def stored(engine: AsyncEngine, account_id: str) -> AccountState | None:
    async with engine.connect() as conn:
        blob = (
            await conn.execute(select(accounts.c.state).where(accounts.c.account_id == account_id))
        ).scalar()
    return None if blob is None else unpack_account(account_id, 0, blob)


async def letters(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(dead_letters.c.value))).scalars())


def used(state: AccountState | None) -> float:
    assert state is not None
    return float(usage_view(state, state.now)["api_calls"]["used"])


async def test_a_signal_that_fails_to_apply_leaves_no_trace(
    processor: ScoringProcessor, engine: AsyncEngine
) -> None:
    feed = Feed(processor)
    good = usage("acme", 1, metric="api_calls", value=5)
    # Checked by ingest, so a producer's slip, but one that fails after the account's clock
    # and activity would have moved: a value that is not a number, dated forty days ahead.
    broken = {**usage("acme", 40, metric="api_calls"), "value": "lots"}
    corrected = usage("acme", 1.5, metric="api_calls", value=7)
    corrected["signal_id"] = broken["signal_id"]
    await feed.apply(good, broken, corrected)

    acme = await stored(engine, "acme")
    assert used(acme) == 12  # the corrected resend counts: the broken one left no id behind
    assert acme is not None and acme.now == at(1.5)  # nor a clock forty days ahead
    assert await letters(engine) == [orjson.dumps(broken)]


async def test_a_record_that_fails_to_apply_does_not_poison_its_account(
    processor: ScoringProcessor, engine: AsyncEngine
) -> None:
    feed = Feed(processor)
    plan = account_record("acme", {"api_calls": 100}, name="Acme")
    broken = account_record("acme", {"api_calls": "a hundred"}, name="Acme")  # type: ignore[dict-item]
    await feed.apply(plan, usage("acme", 1, metric="api_calls", value=10), broken)
    await feed.apply(usage("acme", 2, metric="api_calls", value=75))

    acme = await stored(engine, "acme")
    assert acme is not None and acme.plan["limits"] == {"api_calls": 100}
    assert used(acme) == 85
    async with engine.connect() as conn:
        fired = (await conn.execute(select(triggers.c.dedup_key))).scalars().all()
    assert fired == ["acme:plan_limit_80:api_calls:2026-09"]
    assert await letters(engine) == [orjson.dumps(broken)]


async def test_an_account_that_cannot_be_stored_is_set_aside_and_the_partition_moves_on(
    processor: ScoringProcessor, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fault in building one account's row (a bug, say) must not stall its partition: that
    # account's signals of the batch are dead-lettered, and it is kept as last stored.
    feed = Feed(processor)
    await feed.apply(usage("globex", 1, metric="api_calls", value=1))
    build_row = repository.account_row

    def failing_for_globex(state: AccountState) -> repository.AccountRow:
        if state.account_id == "globex":
            raise RuntimeError("cannot build this row")
        return build_row(state)

    monkeypatch.setattr(repository, "account_row", failing_for_globex)
    poisoned = [usage("globex", 2, metric="api_calls", value=v) for v in (10, 100)]
    await feed.apply(usage("acme", 1, metric="api_calls", value=5), *poisoned)
    monkeypatch.undo()

    assert used(await stored(engine, "acme")) == 5
    assert used(await stored(engine, "globex")) == 1
    assert sorted(await letters(engine)) == sorted(orjson.dumps(s) for s in poisoned)
    tp = _partition(processor)
    moved = await load_offsets(engine, "pulse-scoring", [tp])
    assert moved[tp].offset == feed.offset  # the partition moved past the batch

    # The account goes on from what was stored, and its set-aside signals may come again.
    await feed.apply(poisoned[0], usage("globex", 3, metric="api_calls", value=1000))
    assert used(await stored(engine, "globex")) == 1011
