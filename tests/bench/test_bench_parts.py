"""The benchmark's pure parts: the workload it generates, its statistics, the settings it
gives its children."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from bench import parse_sizes
from bench.phases import per_account
from bench.processes import parse_status
from bench.stats import percentile, summarize
from bench.workload import Workload, build, live_events
from harness.processes import inherited_settings, pulse_env
from shared.config import Topics
from shared.errors import ConfigurationError

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def api_limits(workload: Workload) -> dict[str, float]:
    """Each account's api_calls limit, from its account record."""
    return {
        m.value["account_id"]: m.value["plan"]["limits"]["api_calls"]
        for m in workload.records
        if m.topic == "accounts"
    }


def test_the_workload_is_deterministic_for_a_seed() -> None:
    first = build(300, 3000, seed=5, end=END)
    again = build(300, 3000, seed=5, end=END)
    other = build(300, 3000, seed=6, end=END)
    assert [m.value for m in first.messages] == [m.value for m in again.messages]
    assert [m.value for m in first.messages] != [m.value for m in other.messages]


def test_the_workload_mixes_events_like_a_product_and_names_every_account() -> None:
    workload = build(1000, 20000, seed=1, end=END)
    counts = Counter(m.topic for m in workload.events)
    assert sum(counts.values()) == 20000
    assert counts["product_usage"] / 20000 == pytest.approx(0.7, abs=0.02)
    assert counts["logins"] / 20000 == pytest.approx(0.2, abs=0.02)
    assert counts["support"] / 20000 == pytest.approx(0.1, abs=0.02)
    records = Counter(m.topic for m in workload.records)
    assert records == {"accounts": 1000, "stakeholders": 500}
    assert len({m.value["event_id"] for m in workload.events}) == 20000
    times = [m.value["occurred_at"] for m in workload.events]
    assert times == sorted(times) and times[-1] <= "2026-11-20T12:00:00Z"


def test_about_one_percent_of_the_accounts_cross_80_percent_of_their_api_calls() -> None:
    workload = build(2000, 40000, seed=2, end=END)
    limits = api_limits(workload)
    used: defaultdict[tuple[str, str], float] = defaultdict(float)
    for m in workload.events:
        if m.value.get("metric") == "api_calls":
            used[m.value["account_id"], m.value["occurred_at"][:7]] += m.value["value"]
    over = {account for (account, _), total in used.items() if total >= 0.8 * limits[account]}
    assert over == set(workload.crossing)
    assert len(over) == 20
    assert all(total < 0.7 * limits[a] for (a, _), total in used.items() if a not in over)


@pytest.mark.parametrize("passes", [1, 3])
def test_replayed_live_the_same_accounts_cross_80_percent(passes: int) -> None:
    """The latency phase replays every event in the current month, `passes` times over."""
    workload = build(2000, 40000, seed=2, end=END)
    limits = api_limits(workload)
    replayed = live_events(workload, passes)
    assert [m.topic for m in replayed] == [m.topic for m in workload.events]
    once: defaultdict[str, float] = defaultdict(float)
    for m in replayed:
        if m.value.get("metric") == "api_calls":
            once[m.value["account_id"]] += m.value["value"]
    crossing = set(workload.crossing)
    assert {a for a, used in once.items() if used >= 0.8 * limits[a]} == crossing
    assert all(passes * used < 0.7 * limits[a] for a, used in once.items() if a not in crossing)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 99) == pytest.approx(4.96)
    summary = summarize([0.1] * 99 + [1.0])
    assert (summary.samples, summary.p50_ms, summary.max_ms) == (100, 100.0, 1000.0)


def test_memory_is_read_from_proc_status() -> None:
    status = "Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t4\n"
    memory = parse_status(status)
    assert (memory.rss_bytes, memory.hwm_bytes) == (1024 * 1024, 2048 * 1024)


def test_plot_sizes_take_k_and_m() -> None:
    assert parse_sizes("1k, 10k,100K,1M,500") == [1000, 10000, 100000, 1000000, 500]
    with pytest.raises(ConfigurationError, match="plot-sizes"):
        parse_sizes("ten")


def test_children_get_the_benchmarks_settings_and_never_the_callers_secrets() -> None:
    caller = {
        "PATH": "/bin",
        "PULSE_SLACK_BOT_TOKEN": "xoxb-real",
        "PULSE_DATABASE_URL": "postgresql+asyncpg://prod/db",
        "PULSE_TOPIC_SIGNALS": "prod.signals",
        "PULSE_BATCH_MAX_RECORDS": "1000",
    }
    topics = Topics(signals="b.signals")
    env = pulse_env(
        caller,
        bootstrap="127.0.0.1:1",
        database_url="postgresql+asyncpg://bench/db",
        topics=topics,
        group_prefix="b",
        partitions=8,
        replication_factor=1,
        api_port=8099,
    )
    assert "PULSE_SLACK_BOT_TOKEN" not in env
    assert env["PULSE_DATABASE_URL"] == "postgresql+asyncpg://bench/db"
    assert env["PULSE_TOPIC_SIGNALS"] == "b.signals"
    assert env["PULSE_BATCH_MAX_RECORDS"] == "1000"  # a tuning passes through
    assert env["PULSE_LOG_LEVEL"] == "WARNING" and env["PATH"] == "/bin"
    assert inherited_settings(caller) == {"PULSE_BATCH_MAX_RECORDS": "1000"}


def test_memory_per_account_is_given_only_when_the_accounts_outweigh_process_noise() -> None:
    assert per_account(64 * 2**20, 65_536) == 1024.0
    assert per_account(2 * 2**20, 200) is None  # a --quick run: noise, not accounts
    assert per_account(-57_000, 200) is None
    assert per_account(0, 0) is None
