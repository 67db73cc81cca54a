"""Accounts kept as bytes between batches (accounts/cache.py) behave exactly as accounts kept
decoded: the same states, triggers, stored rows and messages, whatever the hot limit."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, at, login, stakeholder, support, usage
from migrations import schema
from services.scoring.accounts.state import AccountState
from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from services.scoring.tables import accounts, health_history, triggers
from shared.offsets import OffsetMoves

PARTITIONS = 4
TOPIC = "signals"


class Producer:
    """Records what scoring sends (dead letters and relayed triggers) in the order Kafka
    keeps, per topic and key. (Accounts come back from a reload in the database's order.)"""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, bytes | None], list[Any]] = {}

    async def send(self, topic: str, value: bytes, key: bytes | None, **extra: Any) -> Any:
        self.sent.setdefault((topic, key), []).append((value, sorted(extra.items())))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _partition(account: str) -> int:
    return int(account[1:]) % PARTITIONS


def _signal(rng: random.Random, account: str, day: float) -> dict[str, Any] | bytes:
    signal = _valid(rng, account, day)
    if rng.random() < 0.05:  # malformed; some change the account before failing
        return rng.choice(
            [
                b"not json",
                {**signal, "value": "lots"} if "metric" in signal else {**signal, "ts": "soon"},
                {**support(account, day, "T9", "opened"), "status": None},
                {"kind": "usage", "account_id": account, "signal_id": "no-ts"},
                # Fails evaluating (limits are numbers): later events may fail there too.
                account_record(account, {"api_calls": "many"}),  # type: ignore[dict-item]
            ]
        )
    return signal


def _valid(rng: random.Random, account: str, day: float) -> dict[str, Any]:
    user = f"u{rng.randrange(5)}"
    # Emails shared by different user ids make people merge; records that name some fields
    # only leave the others unknown, for logins to fill in later.
    email = rng.choice([None, f"p{rng.randrange(4)}@{account}.example"])
    roll = rng.random()
    if roll < 0.4:
        signal = usage(
            account,
            day,
            user_id=rng.choice([user, None]),
            metric=rng.choice(["api_calls", "seats", None]),
            value=rng.choice([5, 40, 300]),
            mode=rng.choice(["absolute", "delta", "delta", "delta"]),
            feature=rng.choice(["a", "b", "c", None]),
        )
    elif roll < 0.65:
        signal = login(
            account,
            user,
            day,
            email=email,
            title=rng.choice(["VP", "Engineer", None]),
            department=rng.choice(["ops", "finance", None]),
        )
    elif roll < 0.8:
        signal = support(
            account,
            day,
            f"T{rng.randrange(4)}",
            rng.choice(["opened", "updated", "solved"]),
            priority=rng.choice(["urgent", "high", "low", None]),
            csat=rng.choice([1, 5, None, None]),
        )
    elif roll < 0.9:
        fields = rng.sample(["name", "title", "department", "role", "status"], rng.randrange(4))
        values = {"role": "champion", "status": rng.choice(["active", "left"])}
        signal = stakeholder(
            account,
            email or f"p0@{account}.example",
            **{f: values.get(f, f"{f}-{rng.randrange(3)}") for f in fields},
        )
    else:
        signal = account_record(account, {"api_calls": rng.choice([400, 2000]), "seats": 4})
    return {k: v for k, v in signal.items() if v is not None}


def _stream(seed: int) -> list[dict[str, Any] | bytes]:
    rng = random.Random(seed)
    names = [f"a{i}" for i in range(12)]
    signals: list[dict[str, Any] | bytes] = [account_record(a, {"api_calls": 1000}) for a in names]
    day = 0.0
    for _ in range(1200):
        day += rng.expovariate(20)  # about 60 days in all
        late = rng.uniform(0, 3) if rng.random() < 0.1 else 0.0
        # A few accounts get most events, as in real products.
        account = names[int(len(names) * rng.random() ** 2)]
        if rng.random() < 0.04:
            signals.append(rng.choice(signals))  # a producer's duplicate
        elif account in names[-4:] and day > 15:  # gone quiet but for urgent tickets
            signals.append(support(account, day, f"T{day:.0f}", "opened", priority="urgent"))
        else:
            signals.append(_signal(rng, account, day - late))
    return signals


def _record(signal: dict[str, Any] | bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    if isinstance(signal, bytes):
        partition, value, key = 0, signal, b"x"
    else:
        account = signal["account_id"]
        partition, value, key = _partition(account), orjson.dumps(signal), account.encode()
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, key, value, None, 0, len(value), [])


async def _run(
    engine: AsyncEngine, url: str, hot: int, seed: int, signals: list[dict[str, Any] | bytes]
) -> dict[str, Any]:
    """The signals in random batches, with ticks, rebalances and reloads between them."""
    rng = random.Random(seed)
    wall = [at(0)]
    settings = ScoringSettings(database_url=url, scoring_hot_accounts=hot)
    producer = Producer()
    processor = ScoringProcessor(settings, engine, cast(Any, producer), clock=lambda: wall[0])
    everything = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    await processor.assign(everything)
    offset, newest = 0, at(0)
    while offset < len(signals):
        size = rng.choice([1, 3, 20, 80])
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        for signal in signals[offset : offset + size]:
            record = _record(signal, offset)
            batch.setdefault(TopicPartition(TOPIC, record.partition), []).append(record)
            if isinstance(signal, dict) and isinstance(signal.get("ts"), float):
                newest = max(newest, signal["ts"])
            offset += 1
        await (await processor.process(batch, OffsetMoves("g")))()
        roll = rng.random()
        if roll < 0.15:  # the clock, soon after the newest event or a day or two later
            wall[0] = max(wall[0], newest + rng.choice([60, 3600, 86400, 2 * 86400]))
            await tick_round(processor)
        elif roll < 0.18:
            moved = [TopicPartition(TOPIC, rng.randrange(PARTITIONS))]
            await processor.revoke(moved)
            await processor.assign(moved)
        elif roll < 0.19:  # what the loop does after a failed write
            await processor.revoke(everything)
            await processor.assign(everything)
    wall[0] += 86400
    await tick_round(processor)
    store = processor.accounts
    return {
        "states": sorted(_memory(store.borrow(a)) for a in store.entries),
        "sent": producer.sent,
        "accounts": await _table(engine, accounts, exclude="updated_at"),
        "triggers": await _table(engine, triggers),
        "points": await _points(engine),
    }


def _memory(state: AccountState) -> tuple[Any, ...]:
    """What a state holds that can change what it does next, in order where order matters:
    the order of people's fields shows in later blobs, the order of the indexes nowhere.
    Health's numbers are in the document; its explanations, kept only by a decoded account,
    are in the stored rows (compared as the accounts table)."""
    people = [(pid, list(person.items())) for pid, person in state.people.items()]
    document = state.to_json()
    return state.account_id, document, people, state.health_stale, state.by_user, state.by_email


async def _table(engine: AsyncEngine, table: Any, exclude: str = "") -> list[tuple[Any, ...]]:
    columns = [c for c in table.c if c.name != exclude]
    async with engine.connect() as conn:
        rows = await conn.execute(select(*columns).order_by(*table.primary_key.columns))
        return [tuple(row) for row in rows]


async def _points(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """Each account's history as charted, in order (ids go on counting across runs; the tick
    visits accounts in an order of its own)."""
    columns = [c for c in health_history.c if c.name != "id"]
    order = (health_history.c.account_id, health_history.c.id)
    async with engine.connect() as conn:
        rows = await conn.execute(select(*columns).order_by(*order))
        return [tuple(row) for row in rows]


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"TRUNCATE {', '.join(t.name for m in schema() for t in m.sorted_tables)}")
        )


async def test_any_hot_limit_gives_exactly_what_keeping_every_account_decoded_gives(
    engine: AsyncEngine, database_url: str
) -> None:
    seen: set[str] = set()
    for seed in range(3):
        signals, runs = _stream(seed), {}
        for hot in (10**9, 3, 0):
            await _empty(engine)
            runs[hot] = await _run(engine, database_url, hot, seed, signals)
        decoded = runs[10**9]
        # The stream means something: every rule fired, and some signals were rejected.
        fired = {row[2] for row in decoded["triggers"]}
        every = {"plan_limit_80", "plan_limit_100", "single_threaded", "health_red"}
        assert every | {"champion_left"} <= fired, seed
        seen |= fired
        dead = ScoringSettings().topics.dead_letter
        assert any(topic == dead for topic, _ in decoded["sent"]), seed
        for hot in (3, 0):
            for part in ("states", "sent", "accounts", "triggers", "points"):
                assert runs[hot][part] == decoded[part], (seed, hot, part)
    # Across the seeds, the rules over days and the ticket spike fired too.
    assert {"support_spike", "low_adoption", "usage_decline"} <= seen


async def tick_round(processor: ScoringProcessor) -> None:
    """A whole round of the tick, as the loop drives it (a chunk a turn)."""
    while await processor.tick(OffsetMoves("g")):
        pass


async def test_a_signal_that_fails_after_the_tick_keeps_what_the_tick_did(
    engine: AsyncEngine, database_url: str
) -> None:
    """The tick moves a new account's clock through its onboarding days and stores nothing
    while nothing it judges changes (no event yet, its first milestones judged); a signal
    that fails next puts the account back as it was just before that signal, the tick's
    move included, kept decoded or not."""
    for hot in (10**9, 0):
        await _empty(engine)
        moved, after = await _tick_then_fail(engine, database_url, hot)
        assert moved >= at(5), hot  # the tick did move it
        assert after == moved, hot


async def _tick_then_fail(engine: AsyncEngine, url: str, hot: int) -> tuple[float, float]:
    """The account's clock after the tick, and after a signal that failed then."""
    wall = [at(0)]
    settings = ScoringSettings(database_url=url, scoring_hot_accounts=hot)
    processor = ScoringProcessor(settings, engine, cast(Any, Producer()), clock=lambda: wall[0])
    await processor.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    new = account_record("a5", {"api_calls": 1000}, start_date="2026-09-01")
    await (await processor.process(_batch(new, 0), OffsetMoves("g")))()
    for day in (4, 5):  # the first judges the 24- and 72-hour milestones, and is stored
        wall[0] = at(day)
        await tick_round(processor)
    moved = processor.accounts.borrow("a5").now
    broken = {**usage("a5", 6, metric="api_calls"), "value": "lots"}
    await (await processor.process(_batch(broken, 1), OffsetMoves("g")))()
    return moved, processor.accounts.borrow("a5").now


def _batch(signal: dict[str, Any], offset: int) -> dict[TopicPartition, list[ConsumerRecord]]:
    record = _record(signal, offset)
    return {TopicPartition(TOPIC, record.partition): [record]}
