"""The scoring service: the signal consumer and the HTTP API, side by side; or the API alone.

The API reads only from the database and writes through cs.signals, so it can also run as its
own process (`pulse api`), as many as wanted: then its answers never wait for a consumer busy
applying a batch in the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from functools import partial

import uvicorn
from fastapi import FastAPI
from prometheus_client import start_http_server
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts.layout import PartitionLayout
from services.scoring.api.app import create_app
from services.scoring.api.bind import check_bind
from services.scoring.compiled import is_compiled
from services.scoring.processor import ScoringProcessor
from services.scoring.scorecard.live import LiveScorecard
from services.scoring.settings import ScoringSettings
from shared.kafka import create_consumer, create_producer, create_reader, current_partitions
from shared.logcheck import LogCheck
from shared.readiness import Readiness
from shared.streaming import ConsumerLoop, sleep_or_stop

log = logging.getLogger(__name__)

DATABASE_CHECK_SECONDS = 2.0


async def run_scoring(
    settings: ScoringSettings,
    engine: AsyncEngine,
    readiness: Readiness,
    stop: asyncio.Event,
    *,
    serve_api: bool = True,
) -> None:
    if serve_api:
        await check_bind(settings, engine)  # no open API on a non-loopback address
    producer = create_producer(settings)
    await producer.start()
    consumer = create_consumer(settings, settings.group("scoring"))
    scorecard = LiveScorecard(settings.scorecard, readiness)
    topic = settings.topics.signals
    layout = PartitionLayout(engine, topic, lambda: len(consumer.partitions_for_topic(topic) or ()))
    processor = ScoringProcessor(settings, engine, producer, scorecard=scorecard, layout=layout)
    log.info("scoring's core runs %s", "compiled (mypyc)" if is_compiled() else "as plain Python")
    loop = ConsumerLoop(
        name="scoring",
        consumer=consumer,
        engine=engine,
        group_id=settings.group("scoring"),
        topics=[topic],
        processor=processor,
        readiness=readiness,
        log_check=LogCheck(partial(create_reader, settings)),
        max_records=settings.batch_max_records,
        max_wait_ms=settings.batch_max_wait_ms,
        tick_seconds=settings.tick_seconds,
    )
    try:
        # Refused before joining the group, which would move the other instances' partitions.
        await layout.check(await current_partitions(producer, topic))
        await consumer.start()
        tasks = [
            asyncio.create_task(loop.run(stop), name="scoring-consumer"),
            asyncio.create_task(scorecard.watch(stop), name="scoring-scorecard"),
        ]
        if serve_api:
            app = create_app(settings, engine, producer, readiness, scorecard)
            tasks.append(asyncio.create_task(serve(app, settings, stop), name="scoring-api"))
        with metrics_served(settings):
            await _until_stopped(tasks, stop)
    finally:
        await consumer.stop()
        await producer.stop()


async def run_api(
    settings: ScoringSettings, engine: AsyncEngine, readiness: Readiness, stop: asyncio.Event
) -> None:
    """The HTTP API without a consumer: ready while the database answers."""
    await check_bind(settings, engine)
    producer = create_producer(settings)
    await producer.start()
    try:
        scorecard = LiveScorecard(settings.scorecard, readiness)
        app = create_app(settings, engine, producer, readiness, scorecard)
        tasks = [
            asyncio.create_task(serve(app, settings, stop), name="api"),
            asyncio.create_task(scorecard.watch(stop), name="api-scorecard"),
            asyncio.create_task(watch_database(engine, readiness, stop), name="api-database"),
        ]
        with metrics_served(settings):
            await _until_stopped(tasks, stop)
    finally:
        await producer.stop()


@contextlib.contextmanager
def metrics_served(settings: ScoringSettings) -> Iterator[None]:
    """Metrics on their own port while the body runs, when PULSE_METRICS_PORT is set (then
    the API has no /metrics)."""
    if not settings.metrics_port:
        yield
        return
    server, _ = start_http_server(settings.metrics_port, settings.metrics_host)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


async def watch_database(engine: AsyncEngine, readiness: Readiness, stop: asyncio.Event) -> None:
    """/readyz follows the database, the one thing the API's answers depend on."""
    while not stop.is_set():
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:
            readiness.fail("database", f"{type(exc).__name__}: {exc}"[:300])
        else:
            readiness.ok("database")
        await sleep_or_stop(stop, DATABASE_CHECK_SECONDS)


async def serve(app: FastAPI, settings: ScoringSettings, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="off",
        http="httptools",
        access_log=False,
        # X-Forwarded-For only from the proxies the operator named: uvicorn trusts loopback
        # by default, and anyone on this host could then choose their rate-limit bucket.
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=settings.trusted_proxies,
    )
    server = _QuietServer(config)
    log.info("API on http://%s:%d (OpenAPI at /docs)", settings.api_host, settings.api_port)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving


class _QuietServer(uvicorn.Server):
    """Signals belong to the process (its stop event), not to the API server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _until_stopped(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Run until stop is set; if any part dies, stop the others and raise its error."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if task.exception() is not None:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise task.exception()  # type: ignore[misc]
    await asyncio.gather(*tasks)
