"""`pulse backtest` on a fixture file: exactly what each scorecard would fire, side by side, with
nothing written anywhere and no broker.

tests/fixtures/backtest.jsonl holds three accounts on a 1,000-call plan, eleven days of logins
(acme and globex by three people, initech by one) and one usage event each on day 2: acme 850
calls, globex 600, initech 900; then a producer's duplicate, a line that is not JSON and one
of a topic that is not an input. backtest-eager.yaml fires plan limits at 50% and turns
single_threaded off for tier 3 (initech)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

from services.backtest import show_progress
from services.cli import UpSettings
from shared.config import Topics
from shared.kafka import create_producer
from tests.helpers.processes import run_pulse

FIXTURES = Path(__file__).parent / "fixtures"
EVENTS, EAGER = FIXTURES / "backtest.jsonl", FIXTURES / "backtest-eager.yaml"


async def test_a_backtest_counts_what_each_scorecard_would_fire(tmp_path: Path) -> None:
    database = tmp_path / "pulse.db"
    env = {"PULSE_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    args = ("backtest", "--input", str(EVENTS), "--compare", str(EAGER))
    done = await run_pulse(*args, "--json", env=env)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["events"] == 84
    assert report["rejected"] == {
        'not a {"topic", "value"} JSON object': 1,
        "not an input topic: cs.unknown": 1,
    }
    built_in, eager = report["scorecards"]
    assert built_in["fired"] == {
        "plan_limit_80": {"triggers": 2, "accounts": ["acme", "initech"]},
        "single_threaded": {"triggers": 1, "accounts": ["initech"]},
    }
    assert eager["fired"] == {
        "plan_limit_80": {"triggers": 3, "accounts": ["acme", "globex", "initech"]},
    }
    assert not database.exists()  # nothing written: no database was even opened

    text = await run_pulse(*args, env=env)
    lines = text.out.splitlines()
    assert lines[0] == f"84 events replayed from {EVENTS}, 2 lines rejected"
    assert lines[3].split() == [
        "plan_limit_80", "2", "on", "2", "accounts:", "acme,", "initech",
        "3", "on", "3", "accounts:", "acme,", "globex,", "initech",
    ]  # fmt: skip
    assert lines[4].split() == ["single_threaded", "1", "on", "1", "accounts:", "initech", "-"]


async def test_a_backtest_of_an_invalid_scorecard_or_a_missing_file_says_which(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  plan_limit_80: {fire_ratio: high}\n")
    refused = await run_pulse("backtest", "--scorecard", str(bad), "--input", str(EVENTS), env={})
    assert refused.code == 2 and f"{bad}:2: rules.plan_limit_80.fire_ratio" in refused.err
    missing = await run_pulse("backtest", "--input", str(tmp_path / "none.jsonl"), env={})
    assert missing.code == 2 and "none.jsonl: cannot be read" in missing.err


def test_the_progress_line_shows_the_share_the_rate_and_the_time_left() -> None:
    out = io.StringIO()
    show_progress(out, 0.25, 50_000, 10.0)
    assert out.getvalue() == f"\r[{'#' * 7:<30}]  25%  50,000 lines  5,000/s  ETA   30s "


async def test_a_backtest_of_the_topics_fires_what_the_same_events_in_a_file_fire(
    tmp_path: Path, settings_factory: Callable[..., UpSettings], topics: Topics
) -> None:
    """The fixture's events produced to the input topics (keyed by account, as producers do,
    one after the other), then read back from the beginning: the same report as the file's."""
    settings = settings_factory()
    by_contract_name = {
        f"cs.{field.replace('_', '-')}": getattr(topics, field) for field in Topics.model_fields
    }
    producer = create_producer(settings)
    await producer.start()
    try:
        for number, line in enumerate(EVENTS.read_bytes().splitlines()):
            with contextlib.suppress(json.JSONDecodeError):
                item = json.loads(line)
                topic = by_contract_name.get(item["topic"], item["topic"])
                value = item["value"]
                await producer.send_and_wait(
                    topic,
                    json.dumps(value).encode(),
                    key=str(value.get("account_id", "")).encode(),
                    timestamp_ms=1_700_000_000_000 + number,
                )
    finally:
        await producer.stop()
    env = {
        "PULSE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        **{f"PULSE_TOPIC_{name.upper()}": getattr(topics, name) for name in Topics.model_fields},
        "PULSE_TOPIC_SURVEYS": f"{topics.surveys}.never-created",  # the fixture has no survey
    }
    read = await run_pulse("backtest", "--topics", "--compare", str(EAGER), "--json", env=env)
    assert read.code == 0, read.err
    assert f"{topics.surveys}.never-created is not on the cluster, nothing read" in read.err
    from_topics = json.loads(read.out)
    filed = await run_pulse(
        "backtest", "--input", str(EVENTS), "--compare", str(EAGER), "--json", env={}
    )
    from_file = json.loads(filed.out)
    assert from_topics["events"] == from_file["events"] == 84, (read.err, from_topics)
    assert from_topics["rejected"] == {}  # the file's bad lines never made it to a topic
    assert [c["fired"] for c in from_topics["scorecards"]] == [
        c["fired"] for c in from_file["scorecards"]
    ]
    assert from_topics["input"].startswith(f"topics {topics.product_usage}, {topics.logins}")
