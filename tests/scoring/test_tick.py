"""The tick: time-driven evaluation of live accounts, fenced like a batch and bounded per
loop turn."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, at, login
from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from services.scoring.tables import accounts, triggers
from services.scoring.visits import TICK_CHUNK
from shared.db.tables import consumer_offsets
from shared.kafka import EmbeddedBroker, create_producer
from shared.offsets import Fenced, OffsetMoves
from tests.helpers.scoring_runs import SIGNALS, records, scorer

GROUP = "pulse-scoring"


async def stored_rows(engine: AsyncEngine) -> tuple[list[Any], list[Any]]:
    async with engine.connect() as conn:
        account_rows = (await conn.execute(select(accounts.c.account_id, accounts.c.state))).all()
        trigger_rows = (await conn.execute(select(triggers.c.dedup_key))).all()
    return account_rows, trigger_rows


async def test_a_tick_of_an_instance_that_lost_its_partition_stores_nothing(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    wall = [at(6, hours=1)]
    settings = ScoringSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap)
    producer = create_producer(settings)
    processor = ScoringProcessor(settings, engine, producer, clock=lambda: wall[0])
    await processor.assign([SIGNALS])
    # One person of an account onboarded in August logs in daily for a week: single_threaded
    # is pending, due the next day.
    onboarded = account_record("solo", start_date="2026-08-01")
    logins = records([onboarded, *(login("solo", "u1", day) for day in range(7))])
    moves = OffsetMoves(GROUP)
    moves.advance(SIGNALS, None, logins[-1])
    commit = await processor.process({SIGNALS: logins}, moves)
    await commit()
    before = await stored_rows(engine)

    # A rebalance this instance did not notice: the new owner has stored progress since.
    async with engine.begin() as conn:
        await conn.execute(update(consumer_offsets).values(next_offset=len(logins) + 3))
    wall[0] = at(6, hours=20)  # the next day, while the account is live
    assert processor.accounts.entries["solo"].due <= wall[0]
    fence = OffsetMoves(GROUP)
    fence.moves[SIGNALS] = (len(logins), len(logins))
    with pytest.raises(Fenced):
        await processor.tick(fence)
    assert await stored_rows(engine) == before  # no account overwritten, no trigger stored


async def test_a_round_of_the_tick_is_taken_a_chunk_per_call(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = ScoringSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap)
    wall = [at(0, hours=20)]
    processor = ScoringProcessor(settings, engine, create_producer(settings), clock=lambda: wall[0])
    await processor.assign([SIGNALS])
    count = TICK_CHUNK + 5
    batch = records([login(f"a{n}", "u1", 0) for n in range(count)])
    moves = OffsetMoves(GROUP)
    moves.advance(SIGNALS, None, batch[-1])
    await (await processor.process({SIGNALS: batch}, moves))()
    fence = OffsetMoves(GROUP)
    fence.moves[SIGNALS] = (count, count)

    # The next day, within a day of the logins, a minute after the batch (the logins are
    # idle: nothing holds the tick back): every account is due.
    wall[0] = at(0, hours=20) + 60
    assert await processor.tick(fence) is True  # the first chunk; more to come
    assert await processor.tick(fence) is False  # the last five; the round is over


async def test_the_tick_judges_a_new_account_that_sends_nothing(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = ScoringSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap)
    wall = [at(0, hours=-8)]  # 2026-09-01 01:00
    async with scorer(settings, engine, wall, GROUP) as scoring:
        await scoring.batch([account_record("new", start_date="2026-09-01")])
        await scoring.tick()
        assert await scoring.keys("new") == []
        wall[0] = at(1, hours=-8)  # the next day: no login in the first 24 hours
        await scoring.tick()
        assert await scoring.keys("new") == ["onboarding_stalled:first_login"]
        wall[0] = at(14, hours=-8)  # no core feature in 72 hours, no team in 14 days
        await scoring.tick()
        assert await scoring.keys("new") == [
            "onboarding_stalled:first_core_feature",
            "onboarding_stalled:first_login",
            "onboarding_stalled:team",
        ]


async def test_an_account_is_judged_where_its_live_window_ended_after_an_outage(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    """Its last login on 2026-09-01 09:00; its renewal window opens on 09-02. Scoring was away
    until 09-06: the account stopped being live on 09-02 09:00, and is judged there."""
    settings = ScoringSettings(database_url=database_url, kafka_bootstrap_servers=broker.bootstrap)
    wall = [at(0, hours=1)]
    async with scorer(settings, engine, wall, GROUP) as scoring:
        await scoring.batch(
            [account_record("acme", renewal_date="2026-12-01"), login("acme", "u1", 0)]
        )
    # A restart after the outage: the accounts come from the database.
    wall[0] = at(5)
    async with scorer(settings, engine, wall, GROUP) as scoring:
        scoring.offset = 2
        await scoring.tick()
        # One login of one person is not green: the renewal is at risk too.
        fired = ["renewal_at_risk:2026-12-01", "renewal_window:2026-12-01"]
        assert await scoring.keys("acme") == fired
        async with engine.connect() as conn:
            times = set((await conn.execute(select(triggers.c.fired_at))).scalars())
        assert {t.isoformat() for t in times} == {"2026-09-02T09:00:00+00:00"}
        await scoring.tick()
        assert await scoring.keys("acme") == fired
        assert scoring.processor.accounts.entries["acme"].due == float("inf")  # and no more
