"""What a run reports: the machine, a JSON document, a table for people, and a plot.

The document is built once from the phases' dataclasses; the table and the plot are views
of it, so the three can never disagree.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.health_load import HealthLoad
from bench.phases import Latency, Memory, Raw, Throughput
from services.scoring.compiled import is_compiled
from shared.errors import ConfigurationError

PLOT_NEEDS = "--plot needs matplotlib: pip install 'accountpulse[bench]'"


@dataclass
class Results:
    raw: Raw
    up: Throughput
    split: Throughput
    baseline: Throughput
    memory: Memory
    latency: Latency
    health: HealthLoad


@dataclass(frozen=True)
class SweepPoint:
    accounts: int
    messages: int
    throughput: float  # pulse up, steady, messages/s
    offered_rate: float  # of the latency run
    api_p99_ms: float
    slack_p99_ms: float


def machine(postgres_version: str, broker: str) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "scoring_core": "compiled (mypyc)" if is_compiled() else "plain Python",
        "platform": platform.platform(),
        "postgresql": postgres_version,
        "broker": broker,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def ratio(a: float, b: float) -> float:
    return round(a / b, 6) if b else 0.0


def ratios(results: Results) -> dict[str, float]:
    up, split, raw, naive = results.up, results.split, results.raw, results.baseline
    return {
        "pulse_up_to_raw": ratio(up.steady_rate, raw.rate),
        "split_to_raw": ratio(split.steady_rate, raw.rate),
        "pulse_up_to_baseline": ratio(up.steady_rate, naive.steady_rate),
        "split_to_baseline": ratio(split.steady_rate, naive.steady_rate),
    }


def document(meta: dict[str, Any], results: Results, sweep: Sequence[SweepPoint]) -> dict[str, Any]:
    return {
        **meta,
        "raw": asdict(results.raw),
        "throughput": {"pulse_up": asdict(results.up), "split": asdict(results.split)},
        "baseline": asdict(results.baseline),
        "ratios": ratios(results),
        "memory": asdict(results.memory),
        "latency": asdict(results.latency),
        "health_load": asdict(results.health),
        "sweep": [asdict(point) for point in sweep],
    }


def rows(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, unit) for the table, in the issue's order."""
    raw, up, split = doc["raw"], doc["throughput"]["pulse_up"], doc["throughput"]["split"]
    naive, ratios_, mem = doc["baseline"], doc["ratios"], doc["memory"]
    lat, health = doc["latency"], doc["health_load"]
    mib = 1024 * 1024
    return [
        ("1 raw limit: bare consumer + orjson", _n(raw["rate"]), "events/s"),
        (f"2 pulse up: steady{_one_batch(up)}", _n(up["steady_rate"]), "events/s"),
        ("  pulse up: wall time incl. start-up", _f(up["wall_seconds"], 2), "s"),
        (f"  ingest + scoring (2 processes): steady{_one_batch(split)}", _n(split["steady_rate"]),
         "events/s"),
        ("  ingest + scoring: wall time incl. start-up", _f(split["wall_seconds"], 2), "s"),
        ("3 latency run: " + ", ".join(lat.get("deployment") or ["pulse up"]), "", ""),
        ("  offered rate (achieved)", _n(lat["achieved_rate"]), "events/s"),
        *_latency_rows("produce -> API visible", lat["api"]),
        *_latency_rows("produce -> Slack alert", lat["slack"]),
        (f"  with the health load too ({lat['busy_seconds']:g} s): API visible p99",
         _f(lat["api_under_api_load"]["p99_ms"], 1), "ms"),
        ("  with the health load too: Slack alert p99",
         _f(lat["slack_under_api_load"]["p99_ms"], 1), "ms"),
        ("  backlog left when the load stopped, drained in", _f(lat["drain_seconds"], 2), "s"),
        ("4 pulse up / raw limit", _f(ratios_["pulse_up_to_raw"], 3), "x"),
        ("  ingest + scoring / raw limit", _f(ratios_["split_to_raw"], 3), "x"),
        (f"  naive: one transaction per event ({naive['messages']:,} msgs)",
         _n(naive["steady_rate"]), "events/s"),
        ("  pulse up / naive", _f(ratios_["pulse_up_to_baseline"], 1), "x"),
        ("  ingest + scoring / naive", _f(ratios_["split_to_baseline"], 1), "x"),
        ("5 scoring peak RSS (VmHWM, working off the backlog)", _f(mem["peak_rss_bytes"] / mib, 1),
         "MiB"),
        (f"  memory per account ({mem['accounts_loaded']:,} loaded)",
         _n(mem["bytes_per_account"]) if mem["bytes_per_account"] is not None
         else "too few to measure", "bytes"),
        ("  scoring restart to /readyz 200", _f(mem["restart_to_ready_seconds"], 2), "s"),
        ("  (an empty scoring's start to /readyz 200)", _f(mem["empty_start_to_ready_seconds"], 2),
         "s"),
        (f"6 GET /health, {health['concurrency']} workers, under the rated load",
         _n(health["requests_per_second"]), "requests/s"),
        ("  GET /health p99", _f(health["p99_ms"], 1), "ms"),
    ]  # fmt: skip


def _one_batch(run: dict[str, Any]) -> str:
    # A backlog committed in one batch has no steady part to measure (tiny runs).
    return " (one batch: the wall rate)" if run["single_batch"] else ""


def _latency_rows(what: str, figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"  {what} {p}", _f(figures[f"{p}_ms"], 1), "ms") for p in ("p50", "p95", "p99")]


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _f(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def table(doc: dict[str, Any]) -> str:
    sizes, host = doc["sizes"], doc["machine"]
    memory = f"{host['memory_bytes'] / 1024**3:.1f} GiB" if host["memory_bytes"] else "? GiB"
    head = [
        f"AccountPulse benchmark: {sizes['accounts']:,} accounts, {sizes['events']:,} events "
        f"+ {sizes['records']:,} records = {sizes['messages']:,} input messages (seed "
        f"{doc['seed']}); every input message counts as one event in the rates",
        f"{host['cpu_count']} cores ({host['cpu_model']}), {memory}, Python {host['python']} "
        f"(scoring's core {host.get('scoring_core', 'plain Python')}), "
        f"PostgreSQL {host['postgresql']}, broker {host['broker']}; took "
        f"{doc['duration_seconds']:,.0f} s",
        "",
    ]
    body = rows(doc)
    width = max(len(label) for label, _, _ in body)
    value_width = max(len(value) for _, value, _ in body)
    lines = [f"{label:<{width}}  {value:>{value_width}}  {unit}" for label, value, unit in body]
    if doc["sweep"]:
        lines += ["", "accounts   pulse up events/s   offered events/s   API p99 ms   Slack p99 ms"]
        lines += [
            f"{p['accounts']:>9,}  {p['throughput']:>18,.0f}  {p['offered_rate']:>17,.0f}  "
            f"{p['api_p99_ms']:>11,.1f}  {p['slack_p99_ms']:>13,.1f}"
            for p in doc["sweep"]
        ]
    return "\n".join(head + lines)


def write_json(doc: dict[str, Any], path: str) -> None:
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigurationError(PLOT_NEEDS) from None


def plot(sweep: Sequence[SweepPoint], path: str, title: str) -> None:
    """Two panels over the number of accounts: throughput, and the p99 latencies."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    accounts = [p.accounts for p in sweep]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    left.plot(accounts, [p.throughput for p in sweep], marker="o")
    left.set(xscale="log", xlabel="accounts", ylabel="events/s", title="pulse up throughput")
    left.set_ylim(bottom=0)
    right.plot(accounts, [p.api_p99_ms for p in sweep], marker="o", label="produce -> API")
    right.plot(accounts, [p.slack_p99_ms for p in sweep], marker="s", label="produce -> Slack")
    right.set(xscale="log", xlabel="accounts", ylabel="ms", title="latency p99 at the offered rate")
    right.set_ylim(bottom=0)
    right.legend()
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
        axis.set_xticks(accounts, labels=[f"{a:,}" for a in accounts])
        axis.xaxis.set_minor_locator(ticker.NullLocator())
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
