"""`pulse backtest`: what a scorecard would have fired on past events, before it is switched on.

Contract events (one {"topic", "value"} JSON object per line) go through ingest's checks and
scoring's rules in memory, exactly as live, for one scorecard or two side by side; nothing is
written and nothing is sent. Each line is an arrival: events are deduplicated by event_id
within the scorecard's window of their own time, as a live replay would be.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka.structs import ConsumerRecord

from services.ingest.convert import Accepted, convert, input_kinds
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import Scorecard
from services.scoring.settings import ScoringSettings
from shared.clock import utcnow
from shared.contracts.signals import decode_signal
from shared.errors import ConfigurationError

SHOWN_ACCOUNTS = 10  # accounts listed per trigger type in the text report


@dataclass
class Run:
    """One scorecard's replay: its accounts and what fired, per trigger type."""

    scorecard: Scorecard
    accounts: dict[str, AccountState] = field(default_factory=dict)
    fired: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def apply(self, signal: Any, dedup: DedupWindow) -> None:
        account_id = signal["account_id"]
        state = self.accounts.get(account_id) or AccountState(account_id, 0)
        self.accounts[account_id] = state
        arrived = float(signal.get("ts") or state.now)
        for trigger in apply_signal(state, signal, self.scorecard, dedup, arrived=arrived):
            self.fired[trigger.type][account_id] += 1

    def report(self) -> dict[str, Any]:
        return {
            "source": self.scorecard.source,
            "version": self.scorecard.version,
            "fired": {
                kind: {"triggers": sum(by.values()), "accounts": sorted(by)}
                for kind, by in sorted(self.fired.items())
            },
        }


@dataclass
class Replay:
    events: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def backtest(path: Path, scorecards: list[Scorecard], progress: IO[str] | None) -> dict[str, Any]:
    """Replay the file through each scorecard; the report (see report_text for its shape)."""
    settings = ScoringSettings()
    kinds = input_kinds(settings.topics)
    runs = [Run(scorecard) for scorecard in scorecards]
    dedup = DedupWindow.of(settings)
    replay, latest = Replay(), utcnow()
    for number, line in _lines(path, progress):
        outcome = _signal(line, number, kinds, settings.max_message_bytes, latest)
        if isinstance(outcome, str):
            replay.rejected[outcome] += 1
            continue
        replay.events += 1
        for run in runs:
            run.apply(outcome, dedup)
    return {
        "input": str(path),
        "events": replay.events,
        "rejected": dict(replay.rejected.most_common()),
        "scorecards": [run.report() for run in runs],
    }


def _signal(line: bytes, number: int, kinds: dict[str, str], max_bytes: int, latest: Any) -> Any:
    """The signal a line makes, as ingest would publish it; or why not."""
    try:
        item = orjson.loads(line)
        topic, value = item["topic"], orjson.dumps(item["value"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return 'not a {"topic", "value"} JSON object'
    kind = kinds.get(topic)
    if kind is None:
        return f"not an input topic: {str(topic)[:100]}"
    record = ConsumerRecord(topic, 0, number, 0, 0, None, value, None, 0, len(value), [])
    converted = convert(kind, record, max_bytes=max_bytes, latest=latest)
    if not isinstance(converted, Accepted):
        return f"rejected by ingest: {converted.reason.split(':')[0]}"
    return decode_signal(converted.value)


def _lines(path: Path, progress: IO[str] | None) -> Iterator[tuple[int, bytes]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    total, started, shown = path.stat().st_size or 1, time.monotonic(), 0.0
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, line
            now = time.monotonic()
            if progress is not None and now - started > 1 and now - shown > 0.5:
                shown = now
                show_progress(progress, handle.tell() / total, number, now - started)
    if progress is not None and shown:
        progress.write("\n")


def show_progress(out: IO[str], done: float, lines: int, elapsed: float) -> None:
    rate = lines / elapsed
    eta = elapsed * (1 - done) / done if done > 0 else 0
    bar = "#" * int(done * 30)
    out.write(f"\r[{bar:<30}] {done:4.0%}  {lines:,} lines  {rate:,.0f}/s  ETA {eta:4.0f}s ")
    out.flush()


def report_text(report: dict[str, Any]) -> str:
    """Per trigger type, how many would fire and for which accounts: a column per scorecard."""
    cards = report["scorecards"]
    kinds = sorted({kind for card in cards for kind in card["fired"]})
    rows = [["trigger type", *(f"{c['source']} ({c['version']})" for c in cards)]]
    rows += [[kind, *(_cell(card["fired"].get(kind)) for card in cards)] for kind in kinds]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rejected = sum(report["rejected"].values())
    lines = [
        f"{report['events']:,} events replayed from {report['input']}"
        + (f", {rejected:,} lines rejected" if rejected else ""),
        "",
        *(
            "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ),
    ]
    if not kinds:
        lines.append("(no trigger would fire)")
    lines += [f"rejected: {count:,} x {reason}" for reason, count in report["rejected"].items()]
    return "\n".join(lines) + "\n"


def _cell(fired: dict[str, Any] | None) -> str:
    if not fired:
        return "-"
    accounts = fired["accounts"]
    named = ", ".join(accounts[:SHOWN_ACCOUNTS])
    more = f" and {len(accounts) - SHOWN_ACCOUNTS} more" if len(accounts) > SHOWN_ACCOUNTS else ""
    return f"{fired['triggers']} on {len(accounts)} accounts: {named}{more}"
