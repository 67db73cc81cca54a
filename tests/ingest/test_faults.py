"""A broker outage in the middle of a stream: ingest says it is not ready while the broker is
unreachable, comes back by itself when it returns, and loses nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from harness.waiting import wait_for
from services.cli import UpSettings
from shared.kafka import ensure_topics
from tests.helpers.in_process import ingesting, open_outputs
from tests.helpers.ingest_examples import encode, example
from tests.helpers.proxies import broker_behind_proxy

EVENTS = 3000


@pytest.mark.slow
async def test_outage_is_reported_and_survived_without_restart(
    settings_factory: Callable[..., UpSettings],
) -> None:
    async with broker_behind_proxy() as (bootstrap, proxy):
        # Tiny batches keep ingest busy long enough for the cut to land mid-stream.
        settings = settings_factory(kafka_bootstrap_servers=bootstrap, batch_max_records=5)
        await ensure_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(EVENTS):
                message = example("usage", event_id=f"u-{n}", account_id=f"acct-{n % 13}")
                await producer.send(settings.topics.product_usage, encode(message))
            await producer.flush()
        finally:
            await producer.stop()
        expected = {f"u-{n}" for n in range(EVENTS)}
        outputs = await open_outputs(bootstrap, settings)
        try:
            async with ingesting(settings) as readiness:
                await outputs.wait(signals=50)
                proxy.cut()
                await wait_for(
                    lambda: not readiness.ready, timeout=90, what="ingest to report the outage"
                )
                assert "ingest" in readiness.problems
                proxy.restore()
                await wait_for(lambda: outputs.saw_all(expected), timeout=90, what="every event")
                await wait_for(lambda: readiness.ready, timeout=30, what="ingest ready again")
        finally:
            await outputs.consumer.stop()
