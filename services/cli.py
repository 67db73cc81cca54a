"""`pulse`: run AccountPulse's services, alone or all in one process.

pulse up [--demo]     everything in one process (embedded broker unless configured)
pulse ingest | scoring | alerts   one service (needs PULSE_KAFKA_BOOTSTRAP_SERVERS)
pulse api             the HTTP API alone (then run scoring with --no-api)
pulse demo            stream synthetic telemetry to the input topics
pulse migrate         bring the database schema up to date
pulse token create | list | revoke | link
                                     API tokens (docs/operations.md, Security); link: a
                                     one-time sign-in to the pages (docs/ui.md)
pulse deliveries skip --channel C    end the pending deliveries of a channel gone for good
pulse accounts repartition           with scoring stopped, follow a new partition count
pulse scorecard show | check FILE    print the built-in scorecard, or validate one
pulse routes show | check FILE       print the built-in routing, or validate a routing file
pulse backtest --scorecard F (--input EVENTS.jsonl | --topics) [--compare G] [--json]
                                     what a scorecard would fire on past events
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import migrate
from services import admin, config_files
from services.alerts.settings import AlertsSettings
from services.ingest.settings import IngestSettings
from services.scoring.settings import ScoringSettings
from shared import eventloop
from shared.config import BaseServiceSettings
from shared.db.engine import create_engine, database_ssl, redact
from shared.errors import ConfigurationError
from shared.kafka import EmbeddedBroker, ensure_topics
from shared.readiness import Readiness

log = logging.getLogger("pulse")


class UpSettings(ScoringSettings, AlertsSettings, IngestSettings):
    """Everything in one process (`pulse up`): the settings of every service it wires."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="pulse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="run everything in one process")
    up_cmd.add_argument("--demo", action="store_true", help="also stream synthetic telemetry")
    up_cmd.add_argument("--accounts", type=int, default=30, help="demo accounts (default 30)")
    commands.add_parser("ingest", help="validate input topics into cs.signals")
    scoring_cmd = commands.add_parser(
        "scoring", help="score accounts, fire triggers, serve the API"
    )
    scoring_cmd.add_argument(
        "--no-api", action="store_true", help="leave the API to `pulse api` processes"
    )
    commands.add_parser("api", help="serve the HTTP API alone (reads the database)")
    commands.add_parser("alerts", help="deliver triggers to Slack and email")
    demo_cmd = commands.add_parser("demo", help="stream synthetic telemetry")
    demo_cmd.add_argument("--accounts", type=int, default=30)
    demo_cmd.add_argument("--no-live", action="store_true", help="send the history, then exit")
    commands.add_parser("migrate", help="bring the database schema up to date")
    operator_commands = admin.add_commands(commands)
    file_commands = config_files.add_commands(commands)
    bench_cmd = commands.add_parser(
        "bench", help="measure throughput, latency and memory (services as child processes)"
    )
    bench_cmd.add_argument("--accounts", type=int, help="accounts (default 10,000)")
    bench_cmd.add_argument("--events", type=int, help="events (default 200,000)")
    bench_cmd.add_argument(
        "--rate", type=float, help="offered events/s for latency (default: half of pulse up's)"
    )
    bench_cmd.add_argument(
        "--latency-seconds", type=float, help="length of the rated load (default 20)"
    )
    bench_cmd.add_argument(
        "--quick", action="store_true", help="a seconds-long smoke run (200 accounts, 2,000 events)"
    )
    bench_cmd.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    bench_cmd.add_argument(
        "--plot", metavar="FILE", help="also sweep --plot-sizes and draw a PNG (needs matplotlib)"
    )
    bench_cmd.add_argument(
        "--plot-sizes", metavar="LIST", help="accounts for --plot (default 1k,10k,100k,1M)"
    )
    bench_cmd.add_argument(
        "--database-url",
        metavar="DSN",
        help="PostgreSQL admin DSN (default PULSE_BENCH_DATABASE_URL or "
        "postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    bench_cmd.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    args = parser.parse_args(argv)

    runners: dict[str, Callable[[argparse.Namespace, asyncio.Event], Coroutine[Any, Any, None]]]
    runners = {
        "up": _up,
        "ingest": _ingest,
        "scoring": _scoring,
        "api": _api,
        "alerts": _alerts,
        "demo": _demo,
        "migrate": _migrate,
        **file_commands,
        "bench": _bench,
    }
    runners.update(dict.fromkeys(operator_commands, partial(_operate, operator_commands)))
    try:
        eventloop.run(_with_signals(runners[args.command], args))
    except ConfigurationError as exc:
        print(f"pulse {args.command}: {exc}", file=sys.stderr)
        sys.exit(2)


async def _with_signals(
    runner: Callable[[argparse.Namespace, asyncio.Event], Coroutine[Any, Any, None]],
    args: argparse.Namespace,
) -> None:
    """SIGINT and SIGTERM stop the runner gracefully: consumers leave their groups."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner(args, stop)


def _configure_logging(settings: BaseServiceSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def _require_broker(settings: BaseServiceSettings) -> None:
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError(
            "PULSE_KAFKA_BOOTSTRAP_SERVERS is not set (only `pulse up` starts its own broker)"
        )


async def _database(settings: BaseServiceSettings, *, pre_ping: bool = True) -> AsyncEngine:
    engine = create_engine(
        settings.database_url,
        database_ssl(settings),
        pre_ping=pre_ping,
        pool_size=settings.database_pool_size,
    )
    try:
        await migrate(engine)
    except ssl.SSLError as exc:  # a certificate problem is a setting to fix, not a crash
        await engine.dispose()
        raise ConfigurationError(
            f"TLS to the database {redact(settings.database_url)} failed: {exc} "
            "(PULSE_DATABASE_SSL_MODE, PULSE_DATABASE_SSL_ROOT_CERT)"
        ) from None
    log.info("database %s is up to date", redact(settings.database_url))
    return engine


def _serve_metrics(settings: BaseServiceSettings) -> None:
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)


async def _up(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.demo import run_demo
    from services.ingest.service import run_ingest
    from services.scoring.service import run_scoring

    settings = UpSettings()
    _configure_logging(settings)
    async with contextlib.AsyncExitStack() as stack:
        if not settings.kafka_bootstrap_servers:
            broker = EmbeddedBroker(settings.embedded_broker_port)
            try:
                await broker.start()
            except RuntimeError as exc:
                raise ConfigurationError(
                    f"could not start the embedded broker on port {broker.port} ({exc}); "
                    "set PULSE_EMBEDDED_BROKER_PORT or PULSE_KAFKA_BOOTSTRAP_SERVERS"
                ) from None
            stack.callback(broker.stop)
            settings.kafka_bootstrap_servers = broker.bootstrap
        engine = await _database(settings)
        stack.push_async_callback(engine.dispose)
        await ensure_topics(settings)
        readiness = Readiness()
        parts: list[Awaitable[None]] = [
            run_ingest(settings, readiness, stop),
            run_scoring(settings, engine, readiness, stop),
            # Alerts on a loop of their own: scoring's batches hold a loop for tens of
            # milliseconds, and a delivery must be recorded the moment the receiver has it
            # (a crash in between resends it).
            eventloop.run_in_thread("alerts", partial(_alerts_alone, settings, readiness), stop),
        ]
        if args.demo:
            parts.append(run_demo(settings, stop, accounts=args.accounts))
        log.info(
            "AccountPulse is up: broker %s, API http://%s:%d (docs at /docs); Ctrl+C stops",
            settings.kafka_bootstrap_servers,
            settings.api_host,
            settings.api_port,
        )
        announcing = asyncio.ensure_future(_announce_portfolio(settings))
        try:
            await _together(parts, stop)
        finally:
            announcing.cancel()


async def _announce_portfolio(settings: UpSettings) -> None:
    """Once the API answers, on stdout apart from the log: the one line a newcomer needs."""
    while True:
        try:
            _, writer = await asyncio.open_connection(settings.api_host, settings.api_port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        print(f"Portfolio: {portfolio_url(settings)}", flush=True)
        return


def portfolio_url(settings: UpSettings) -> str:
    if settings.public_url:
        return f"{settings.public_url.rstrip('/')}/ui"
    host = settings.api_host if settings.api_host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.api_port}/ui"


async def _alerts_alone(settings: UpSettings, readiness: Readiness, stop: asyncio.Event) -> None:
    """The alerts service with an engine of its own (a pool belongs to one event loop)."""
    from services.alerts.service import run_alerts

    engine = create_engine(
        settings.database_url, database_ssl(settings), pool_size=settings.database_pool_size
    )
    try:
        await run_alerts(settings, engine, readiness, stop)
    finally:
        await engine.dispose()


async def _together(parts: list[Awaitable[None]], stop: asyncio.Event) -> None:
    """Run the parts until stop; the first to fail stops the rest and is re-raised."""
    tasks = [asyncio.ensure_future(p) for p in parts]
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopping and t.exception() is not None]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    if failed:
        raise failed[0].exception()  # type: ignore[misc]


async def _ingest(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.ingest.service import run_ingest

    settings = IngestSettings()
    _configure_logging(settings)
    _require_broker(settings)
    await ensure_topics(settings)
    _serve_metrics(settings)
    await run_ingest(settings, Readiness(), stop)


async def _scoring(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.scoring.service import run_scoring

    settings = ScoringSettings()
    _configure_logging(settings)
    _require_broker(settings)
    engine = await _database(settings)
    try:
        await ensure_topics(settings)
        await run_scoring(settings, engine, Readiness(), stop, serve_api=not args.no_api)
    finally:
        await engine.dispose()


async def _api(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.scoring.service import run_api

    settings = ScoringSettings()
    _configure_logging(settings)
    _require_broker(settings)  # writes go through cs.signals
    # No ping before each request's query: it would double the API's round trips. A read on
    # a connection a database restart broke is tried again once, on a renewed pool
    # (read_rows).
    engine = await _database(settings, pre_ping=False)
    try:
        await ensure_topics(settings)
        await run_api(settings, engine, Readiness(), stop)
    finally:
        await engine.dispose()


async def _alerts(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.alerts.service import run_alerts

    settings = AlertsSettings()
    _configure_logging(settings)
    _require_broker(settings)
    engine = await _database(settings)
    try:
        _serve_metrics(settings)
        await run_alerts(settings, engine, Readiness(), stop)
    finally:
        await engine.dispose()


async def _demo(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.demo import run_demo

    settings = BaseServiceSettings()
    _configure_logging(settings)
    if not settings.kafka_bootstrap_servers:
        settings.kafka_bootstrap_servers = f"127.0.0.1:{settings.embedded_broker_port}"
    await ensure_topics(settings)
    await run_demo(settings, stop, accounts=args.accounts, live=not args.no_live)


async def _migrate(args: argparse.Namespace, stop: asyncio.Event) -> None:
    settings = BaseServiceSettings()
    _configure_logging(settings)
    engine = await _database(settings)
    await engine.dispose()


async def _operate(
    commands: dict[str, admin.Command], args: argparse.Namespace, stop: asyncio.Event
) -> None:
    """A command of services/admin.py, on the migrated database."""
    settings = BaseServiceSettings()
    engine = await _database(settings)
    try:
        await commands[args.command](args, engine, settings)
    finally:
        await engine.dispose()


async def _bench(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from bench import BenchError, run_bench

    # Ctrl+C (or SIGTERM) cancels the run; its clean-up stops every child it started.
    bench = asyncio.ensure_future(run_bench(args))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([bench, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not bench.done():
        bench.cancel()
    try:
        await bench
    except (asyncio.CancelledError, BenchError) as exc:
        if stop.is_set():
            print("pulse bench: interrupted; every child process was stopped", file=sys.stderr)
            sys.exit(130)
        print(f"pulse bench: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
