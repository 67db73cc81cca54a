"""`pulse bench --quick` as a user runs it, against the session's broker and the test
PostgreSQL: it must finish and report every figure. No speed is asserted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.kafka import EmbeddedBroker
from tests.helpers.database import PG_ADMIN_DSN

RUN_TIMEOUT = 300

# Every figure of the issue, as a path into the JSON report.
FIGURES = [
    ("raw", "rate"),
    ("throughput", "pulse_up", "steady_rate"),
    ("throughput", "pulse_up", "wall_seconds"),
    ("throughput", "split", "steady_rate"),
    ("throughput", "split", "wall_seconds"),
    ("latency", "achieved_rate"),
    *(("latency", kind, p) for kind in ("api", "slack") for p in ("p50_ms", "p95_ms", "p99_ms")),
    ("baseline", "steady_rate"),
    ("ratios", "pulse_up_to_raw"),
    ("ratios", "split_to_raw"),
    ("ratios", "pulse_up_to_baseline"),
    ("ratios", "split_to_baseline"),
    ("memory", "peak_rss_bytes"),
    ("memory", "restart_to_ready_seconds"),
    ("health_load", "requests_per_second"),
    ("health_load", "p99_ms"),
]


def _at(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


async def _run_bench(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "bench",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        # Ctrl+C lets the bench stop its own children before it goes.
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
        raise AssertionError(f"pulse bench --quick did not finish within {RUN_TIMEOUT}s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.timeout(RUN_TIMEOUT + 90)
async def test_quick_bench_reports_every_figure(broker: EmbeddedBroker, tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env["PULSE_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    env["PULSE_BENCH_DATABASE_URL"] = PG_ADMIN_DSN

    code, out, err = await _run_bench(env, "--quick", "--json", str(report))

    assert code == 0, f"pulse bench failed ({code}):\n{err[-5000:]}"
    doc = json.loads(report.read_text())
    for path in FIGURES:
        value = _at(doc, path)
        assert isinstance(value, int | float) and value > 0, f"{'.'.join(path)} = {value!r}"
    # 200 accounts grow a process by less than two processes' sizes differ anyway.
    assert doc["memory"]["bytes_per_account"] is None
    assert "too few to measure" in out
    sent = doc["sizes"]["messages"]
    assert sent == doc["sizes"]["events"] + doc["sizes"]["records"]
    for run in (doc["throughput"]["pulse_up"], doc["throughput"]["split"]):
        assert run["messages"] == run["signals_committed"] == sent
    assert doc["baseline"]["messages"] == doc["baseline"]["signals_committed"] > 0
    assert doc["baseline"]["settings"] == {"PULSE_BATCH_MAX_RECORDS": "1"}
    assert doc["latency"]["api"]["samples"] > 0 and doc["latency"]["slack"]["samples"] > 0
    assert doc["health_load"]["errors"] == 0
    machine = doc["machine"]
    assert machine["cpu_count"] >= 1 and machine["memory_bytes"] > 0
    assert machine["cpu_model"] and machine["python"]
    assert "bench" in doc["command"] and "--quick" in doc["command"]
    assert doc["started_at"] and doc["finished_at"]
    # The table: every figure with its unit.
    for unit in ("events/s", " ms", " s", "MiB", "bytes", "requests/s", " x"):
        assert unit in out, f"no {unit!r} in the table:\n{out}"
