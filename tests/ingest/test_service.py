"""Ingest end to end on the real broker: what reaches cs.signals, what reaches the dead-letter
topic and how it looks there, the counters, and a restart in the middle of a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from prometheus_client import REGISTRY

from harness.waiting import wait_for
from services.cli import UpSettings
from shared.deadletter import (
    REASON,
    SERVICE,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    headers_of,
)
from tests.helpers.in_process import Outputs, ingesting
from tests.helpers.ingest_examples import EXAMPLES, TOPIC_FIELDS, bad_inputs, encode, example

SettingsFactory = Callable[..., UpSettings]
OutputsFactory = Callable[[UpSettings], Awaitable[Outputs]]


def topic_of(settings: UpSettings, kind: str) -> str:
    return str(getattr(settings.topics, TOPIC_FIELDS[kind]))


def counted(topic: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "pulse_ingest_messages_total", {"topic": topic, "outcome": outcome}
    )
    return value or 0.0


async def test_valid_messages_become_normalized_signals(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
) -> None:
    settings = settings_factory()
    sent: dict[str, RecordMetadata] = {}
    for kind in EXAMPLES:
        # A field from a future contract version, and a local-time offset to normalize.
        message = example(kind, added_in_v2={"anything": [1, 2]})
        if kind == "login":
            message["occurred_at"] = "2026-11-20T11:58:00+02:00"
        sent[kind] = await producer.send_and_wait(
            topic_of(settings, kind), encode(message), key=b"acme"
        )
    outputs = await outputs_factory(settings)

    async with ingesting(settings) as readiness:
        await outputs.wait(signals=5)
        await wait_for(lambda: readiness.ready, timeout=10, what="ingest ready")
    await outputs.settle(0.5)

    assert outputs.dead == []
    assert {r.key for r in outputs.signals} == {b"acme"}
    signals = {s["kind"]: s for s in outputs.signal_values()}
    assert set(signals) == set(EXAMPLES)
    for signal in signals.values():
        assert "added_in_v2" not in signal
        assert signal["account_id"] == "acme"

    usage = signals["usage"]
    assert usage["signal_id"] == usage["event_id"] == "u-2"
    assert usage["occurred_at"] == "2026-11-20T10:00:05Z"
    assert usage["ts"] == datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC).timestamp()
    assert (usage["metric"], usage["value"], usage["mode"]) == ("api_calls", 1200, "delta")

    login = signals["login"]
    assert login["signal_id"] == "l-1"
    assert login["occurred_at"] == "2026-11-20T09:58:00Z"
    assert login["ts"] == datetime(2026, 11, 20, 9, 58, tzinfo=UTC).timestamp()
    assert login["user_id"] == "u-17"

    support = signals["support"]
    assert (support["signal_id"], support["ticket_id"], support["status"]) == (
        "s-1",
        "T-100",
        "opened",
    )

    # Records carry no event_id: their position and time are their id, stable across
    # redeliveries.
    for kind in ("account", "stakeholder"):
        where = sent[kind]
        position = f"{where.topic}:{where.partition}:{where.offset}@{where.timestamp}"
        assert signals[kind]["signal_id"] == position
        assert "ts" not in signals[kind]
    assert signals["account"]["plan"]["limits"]["api_calls"] == 100000
    assert signals["account"]["renewal_date"] == "2027-03-01"
    assert signals["stakeholder"]["email"] == "dana@acme.com"


async def test_bad_input_on_every_topic_is_dead_lettered_and_blocks_nothing(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
) -> None:
    settings = settings_factory()
    # One key for everything, so every topic's bad and good messages share one partition
    # and a bad message that blocked it would hold up the good one behind it.
    expected_reasons: dict[tuple[str, int, int], tuple[str, bytes | None, str]] = {}
    valid_ids: set[str] = set()
    for kind in EXAMPLES:
        topic = topic_of(settings, kind)
        valid_ids.add(await _send_valid(producer, topic, kind, "before"))
        for case, value, word in bad_inputs(kind):
            where = await producer.send_and_wait(topic, value, key=b"acme")
            expected_reasons[topic, where.partition, where.offset] = (case, value, word)
        valid_ids.add(await _send_valid(producer, topic, kind, "after"))
    outputs = await outputs_factory(settings)

    async with ingesting(settings):
        await outputs.wait(signals=len(valid_ids), dead=len(expected_reasons), timeout=60)
    await outputs.settle(0.5)

    assert {s["signal_id"] for s in outputs.signal_values()} == valid_ids
    assert len(outputs.signals) == len(valid_ids)
    assert len(outputs.dead) == len(expected_reasons)
    for letter in outputs.dead:
        headers = headers_of(letter)
        source = (
            headers[SOURCE_TOPIC],
            int(headers[SOURCE_PARTITION]),
            int(headers[SOURCE_OFFSET]),
        )
        case, value, word = expected_reasons[source]
        assert letter.value == value, f"{case}: the original bytes must be kept"
        assert letter.key == b"acme", case
        assert word in headers[REASON], f"{case}: reason {headers[REASON]!r} lacks {word!r}"
        assert headers[SERVICE] == "ingest"


async def _send_valid(producer: AIOKafkaProducer, topic: str, kind: str, tag: str) -> str:
    """Send one valid message of the kind; returns the signal_id it must become."""
    if "event_id" in EXAMPLES[kind]:
        event_id = f"{kind}-{tag}"
        await producer.send_and_wait(topic, encode(example(kind, event_id=event_id)), key=b"acme")
        return event_id
    where = await producer.send_and_wait(topic, encode(example(kind, name=tag)), key=b"acme")
    return f"{where.topic}:{where.partition}:{where.offset}@{where.timestamp}"


async def test_too_big_even_for_the_dead_letter_topic_keeps_reason_and_position(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
) -> None:
    settings = settings_factory()
    topic = settings.topics.support
    huge = encode({**EXAMPLES["support"], "padding": "x" * (3 * 1024 * 1024)})
    where = await producer.send_and_wait(topic, huge, key=b"acme")
    await producer.send_and_wait(topic, encode(EXAMPLES["support"]), key=b"acme")
    outputs = await outputs_factory(settings)

    async with ingesting(settings):
        await outputs.wait(signals=1, dead=1)

    headers = headers_of(outputs.dead[0])
    assert outputs.dead[0].value is None
    assert "too large to keep" in headers[REASON]
    assert (headers[SOURCE_TOPIC], headers[SOURCE_OFFSET]) == (topic, str(where.offset))


async def test_counts_rise_for_valid_and_invalid(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
) -> None:
    settings = settings_factory()
    logins = settings.topics.logins
    for n in range(3):
        await producer.send_and_wait(logins, encode(example("login", event_id=f"l-{n}")))
    await producer.send_and_wait(logins, b"not json")
    await producer.send_and_wait(logins, encode(example("login", user_id=None)))
    outputs = await outputs_factory(settings)
    dead_before = REGISTRY.get_sample_value(
        "pulse_dead_letters_total", {"source": logins, "service": "ingest"}
    )
    assert dead_before is None

    async with ingesting(settings):
        await outputs.wait(signals=3, dead=2)
        await wait_for(
            lambda: counted(logins, "valid") == 3 and counted(logins, "invalid") == 2,
            timeout=10,
            what="ingest counters",
        )
    dead_after = REGISTRY.get_sample_value(
        "pulse_dead_letters_total", {"source": logins, "service": "ingest"}
    )
    assert dead_after == 2


@pytest.mark.parametrize("abrupt", [False, True], ids=["stopped", "cancelled"])
async def test_restart_mid_stream_loses_nothing(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
    abrupt: bool,
) -> None:
    # Small batches, so that stopping cuts through the stream rather than after it; a
    # cancelled task stands for a crash between sending a batch and committing it.
    settings = settings_factory(batch_max_records=7)
    expected: set[str] = set()
    kinds = ("usage", "login", "support")

    async def produce(start: int, count: int) -> None:
        for n in range(start, start + count):
            kind = kinds[n % 3]
            event_id = f"{kind}-{n}"
            expected.add(event_id)
            message = example(kind, event_id=event_id, account_id=f"acct-{n % 11}")
            await producer.send(topic_of(settings, kind), encode(message))
        await producer.flush()

    await produce(0, 300)
    outputs = await outputs_factory(settings)
    async with ingesting(settings, abrupt=abrupt):
        await outputs.wait(signals=20)
        # More arrives while ingest is running and after it stops.
        more = asyncio.create_task(produce(300, 300))
    await more
    await outputs.poll()
    first_run = {s["signal_id"] for s in outputs.signal_values()}
    assert first_run < expected, "the first run was meant to stop mid-stream"

    async with ingesting(settings):
        await wait_for(
            lambda: outputs.saw_all(expected), timeout=60, what="every event after restart"
        )
    assert {s["signal_id"] for s in outputs.signal_values()} == expected


async def test_committed_messages_are_not_forwarded_again(
    settings_factory: SettingsFactory,
    producer: AIOKafkaProducer,
    outputs_factory: OutputsFactory,
) -> None:
    # Committed offsets are ingest's only progress: after a clean stop and start, nothing that
    # was already forwarded and committed is forwarded again.
    settings = settings_factory()
    for n in range(10):
        message = orjson.dumps(example("usage", event_id=f"u-{n}"))
        await producer.send_and_wait(settings.topics.product_usage, message)
    outputs = await outputs_factory(settings)
    async with ingesting(settings):
        await outputs.wait(signals=10)
    async with ingesting(settings) as readiness:
        await wait_for(lambda: readiness.ready, timeout=20, what="ingest ready again")
        await outputs.settle(1.0)
    assert len(outputs.signals) == 10
