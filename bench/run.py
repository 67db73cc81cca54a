"""Running `pulse bench`: the broker, every phase in turn, the optional sweep for the plot,
and the report (the table on stdout, progress on stderr)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench import report
from bench.errors import BenchError
from bench.options import Options, options
from bench.phases import (
    HEALTH_SECONDS,
    Context,
    measure_baseline,
    measure_latency,
    measure_raw,
    measure_split,
    measure_up,
)
from bench.workload import Workload, build
from harness.database import server_version
from harness.errors import HarnessError
from harness.processes import inherited_settings
from shared.clock import iso
from shared.config import BaseServiceSettings
from shared.db.engine import redact
from shared.errors import ConfigurationError
from shared.kafka import EmbeddedBroker

_STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress, on stderr so stdout carries only the table."""
    elapsed = time.monotonic() - _STARTED
    print(f"pulse bench [{elapsed:5.0f}s]: {text}", file=sys.stderr, flush=True)


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run every phase, print the table, write --json and --plot; the report document."""
    opts = options(args)
    if opts.plot:
        report.require_matplotlib()  # before minutes of work, not after
    settings = _settings()
    started, started_at = time.monotonic(), _utc()
    log_dir = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    try:
        async with _broker() as (bootstrap, broker_kind):
            ctx = _context(bootstrap, opts, settings, log_dir)
            postgres = await server_version(opts.admin_dsn)
            workload = _workload(opts.accounts, opts.events, opts.seed)
            results = await _measure(ctx, opts, workload)
            sweep = await _sweep(ctx, opts, results) if opts.plot else []
    except HarnessError as exc:
        if not _has_logs(log_dir):
            shutil.rmtree(log_dir, ignore_errors=True)
            raise BenchError(str(exc)) from None
        # The children's logs tell the rest of the story: kept.
        raise BenchError(f"{exc}\n(the child processes' logs are in {log_dir})") from None
    except BaseException:
        shutil.rmtree(log_dir, ignore_errors=True)
        raise
    shutil.rmtree(log_dir, ignore_errors=True)
    meta = {
        "benchmark": "accountpulse",
        "version": 1,
        "command": list(getattr(sys, "orig_argv", sys.argv)),
        "started_at": started_at,
        "finished_at": _utc(),
        "duration_seconds": round(time.monotonic() - started, 1),
        "seed": opts.seed,
        "quick": opts.quick,
        "options": {**asdict(opts), "admin_dsn": redact(opts.admin_dsn)},
        "machine": report.machine(postgres, broker_kind),
        "sizes": _sizes(opts, workload),
        "settings": {
            "topic_partitions": ctx.partitions,
            "inherited": inherited_settings(os.environ),
        },
    }
    doc = report.document(meta, results, sweep)
    print(report.table(doc))
    if opts.json:
        report.write_json(doc, opts.json)
        say(f"wrote {opts.json}")
    if opts.plot:
        report.plot(sweep, opts.plot, _plot_title(doc))
        say(f"wrote {opts.plot}")
    return doc


def _has_logs(log_dir: Path) -> bool:
    return any(log_dir.iterdir())


def _utc() -> str:
    return iso(datetime.now(UTC).replace(microsecond=0))


@contextlib.asynccontextmanager
async def _broker() -> AsyncIterator[tuple[str, str]]:
    """The configured broker, else an embedded one for the duration of the run."""
    configured = os.environ.get("PULSE_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured, f"external ({configured})"
        return
    broker = EmbeddedBroker()
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its "Unable connect" while the broker starts is noise
    try:
        await broker.start()
    except Exception as exc:
        broker.stop()
        raise BenchError(f"could not start the embedded broker: {exc}") from None
    finally:
        quiet.setLevel(level)
    try:
        yield broker.bootstrap, "embedded (Tansu)"
    finally:
        broker.stop()


def _settings() -> BaseServiceSettings:
    """The caller's PULSE_ settings the benchmark follows (partitions, replication)."""
    try:
        return BaseServiceSettings()
    except ValidationError as exc:
        raise ConfigurationError(f"a PULSE_ setting is invalid: {exc}") from None


def _context(
    bootstrap: str, opts: Options, settings: BaseServiceSettings, log_dir: Path
) -> Context:
    return Context(
        bootstrap=bootstrap,
        admin=opts.admin_dsn,
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
        environ=dict(os.environ),
        log_dir=log_dir,
        tag=uuid.uuid4().hex[:6],
        seed=opts.seed,
    )


def _workload(accounts: int, events: int, seed: int) -> Workload:
    # Events end at the current minute: recent (accounts are live, as in production) and
    # never ahead of the services' clocks.
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    say(f"generating {accounts:,} accounts and {events:,} events")
    return build(accounts, events, seed=seed, end=end)


async def _measure(ctx: Context, opts: Options, workload: Workload) -> report.Results:
    total = len(workload.messages)
    say(f"1/4 raw limit: a bare consumer reading {total:,} messages")
    raw = await measure_raw(ctx, workload)
    say(f"2/4 throughput: pulse up working off {total:,} messages")
    up = await measure_up(ctx, workload)
    say("    throughput: pulse ingest + pulse scoring; then memory: scoring restarted, empty")
    split, memory = await measure_split(ctx, workload)
    naive = _workload(
        max(1, round(opts.accounts * opts.baseline_events / opts.events)),
        opts.baseline_events,
        opts.seed,
    )
    say(f"3/4 naive baseline: scoring with one transaction per event, {len(naive.messages):,} msgs")
    baseline = await measure_baseline(ctx, naive)
    offered = opts.rate or max(1.0, round(up.steady_rate / 2))
    busy = min(HEALTH_SECONDS, opts.latency_seconds)
    say(
        f"4/4 latency: {offered:,.0f} events/s for {opts.latency_seconds:g} s with probes, "
        f"then {busy:g} s more with GET /health load"
    )
    latency, health = await measure_latency(
        ctx, workload, offered_rate=offered, seconds=opts.latency_seconds
    )
    return report.Results(raw, up, split, baseline, memory, latency, health)


async def _sweep(ctx: Context, opts: Options, results: report.Results) -> list[report.SweepPoint]:
    """Throughput and latency p99 of `pulse up` at each --plot-sizes account count."""
    points = []
    if max(opts.plot_sizes) >= 100_000:
        say("plot: 100,000 accounts and more take minutes per size (--plot-sizes picks sizes)")
    for accounts in opts.plot_sizes:
        if accounts == opts.accounts:  # measured already
            up, latency = results.up, results.latency
        else:
            workload = _workload(accounts, opts.events, opts.seed)
            say(f"plot: {accounts:,} accounts: throughput")
            up = await measure_up(ctx, workload)
            offered = opts.rate or max(1.0, round(up.steady_rate / 2))
            say(f"plot: {accounts:,} accounts: latency at {offered:,.0f} events/s")
            latency, _ = await measure_latency(
                ctx, workload, offered_rate=offered, seconds=opts.latency_seconds
            )
        points.append(
            report.SweepPoint(
                accounts=accounts,
                messages=up.messages,
                throughput=up.steady_rate,
                offered_rate=latency.offered_rate,
                api_p99_ms=latency.api.p99_ms,
                slack_p99_ms=latency.slack.p99_ms,
            )
        )
    return points


def _sizes(opts: Options, workload: Workload) -> dict[str, Any]:
    counts = workload.counts()
    return {
        "accounts": opts.accounts,
        "events": opts.events,
        "records": len(workload.records),
        "messages": len(workload.messages),
        "by_topic": counts,
        "crossing_accounts": len(workload.crossing),
        "baseline_events": opts.baseline_events,
        "latency_seconds": opts.latency_seconds,
        "offered_rate_option": opts.rate,
        "plot_sizes": opts.plot_sizes if opts.plot else [],
    }


def _plot_title(doc: dict[str, Any]) -> str:
    host = doc["machine"]
    return (
        f"AccountPulse, {doc['sizes']['events']:,} events per run, {host['cpu_count']} cores, "
        f"Python {host['python']}, {doc['finished_at']}"
    )
