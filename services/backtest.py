"""`pulse backtest`: what a scorecard would have fired on past events, before it is switched on.

Contract events (one {"topic", "value"} JSON object per line, or the input topics read from
their beginning) go through ingest's checks and scoring's rules in memory, exactly as live, for
one scorecard or two side by side; nothing is written, sent or committed. Each record is an
arrival: events are deduplicated by event_id within the window of their own time, as a live
replay would be.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from services.ingest.convert import Accepted, convert, input_kinds
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import Scorecard
from services.scoring.settings import ScoringSettings
from shared.clock import utcnow
from shared.config import BaseServiceSettings
from shared.contracts.signals import decode_signal
from shared.errors import ConfigurationError
from shared.kafka import create_reader, partition_counts

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
            if trigger.status == "firing":  # an episode's end is not a firing
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


class Replay:
    """Records in, as ingest would check them and scoring would apply them, through every
    scorecard at once; report() says what fired."""

    def __init__(self, scorecards: list[Scorecard]) -> None:
        settings = ScoringSettings()
        self.kinds = input_kinds(settings.topics)
        self.max_bytes = settings.max_message_bytes
        self.dedup = DedupWindow.of(settings)
        self.latest = utcnow()
        self.runs = [Run(scorecard) for scorecard in scorecards]
        self.events = 0
        self.rejected: Counter[str] = Counter()

    def line(self, number: int, line: bytes) -> None:
        """One line of an events file: a {"topic", "value"} object, read at position number."""
        try:
            item = orjson.loads(line)
            topic, value = item["topic"], orjson.dumps(item["value"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.rejected['not a {"topic", "value"} JSON object'] += 1
            return
        record = ConsumerRecord(topic, 0, number, 0, 0, None, value, None, 0, len(value), [])
        self.record(record)

    def record(self, record: ConsumerRecord[Any, Any]) -> None:
        kind = self.kinds.get(record.topic)
        if kind is None:
            self.rejected[f"not an input topic: {str(record.topic)[:100]}"] += 1
            return
        converted = convert(kind, record, max_bytes=self.max_bytes, latest=self.latest)
        if not isinstance(converted, Accepted):
            self.rejected[f"rejected by ingest: {converted.reason.split(':')[0]}"] += 1
            return
        self.events += 1
        signal = decode_signal(converted.value)
        for run in self.runs:
            run.apply(signal, self.dedup)

    def report(self, source: str) -> dict[str, Any]:
        return {
            "input": source,
            "events": self.events,
            "rejected": dict(self.rejected.most_common()),
            "scorecards": [run.report() for run in self.runs],
        }


def backtest(path: Path, scorecards: list[Scorecard], progress: IO[str] | None) -> dict[str, Any]:
    """Replay the file through each scorecard; the report (see report_text for its shape)."""
    replay = Replay(scorecards)
    for number, line in _lines(path, progress):
        replay.line(number, line)
    return replay.report(str(path))


async def backtest_topics(
    settings: BaseServiceSettings, scorecards: list[Scorecard], progress: IO[str] | None
) -> dict[str, Any]:
    """Replay the input topics from their beginning up to where they end now, in the order the
    records were produced (their timestamps, across partitions), as live ingest gives each
    record its signal_id; nothing is committed, the reader joins no group."""
    replay = Replay(scorecards)
    async for record in read_from_beginning(settings, settings.topics.inputs(), progress):
        replay.record(record)
    return replay.report("topics " + ", ".join(settings.topics.inputs()))


async def read_from_beginning(
    settings: BaseServiceSettings, topics: list[str], progress: IO[str] | None
) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Every record the topics hold now, merged by timestamp across their partitions."""
    reader = create_reader(settings)
    await reader.start()
    try:
        # Asked of the cluster for these topics alone: the reader's metadata may not know a
        # topic yet, and a listing of every topic is as large as the cluster.
        counts = await partition_counts(settings, topics)
        for topic in topics:
            if topic not in counts and progress is not None:
                print(f"pulse backtest: {topic} is not on the cluster, nothing read", file=progress)
        partitions = [
            TopicPartition(topic, partition)
            for topic, count in counts.items()
            for partition in range(count)
        ]
        reader.assign(partitions)
        begins = await reader.beginning_offsets(partitions)
        ends = await reader.end_offsets(partitions)
        # Positions set outright: seek_to_beginning only asks for a reset, and the reset to
        # the latest offset that assign() started may answer after it and win (aiokafka's
        # fetcher applies whichever reset answers to a partition still awaiting one): then
        # nothing is read.
        for tp in partitions:
            reader.seek(tp, begins[tp])
        merge = _Merge(reader, ends)
        held = sum(ends[tp] - begins[tp] for tp in partitions)
        if progress is not None:
            print(
                f"pulse backtest: {held} records in {len(partitions)} partitions of "
                f"{', '.join(sorted(counts))}",
                file=progress,
            )
        total, meter = max(1, held), _Meter(progress)
        for tp in partitions:
            await merge.refill(tp)
        while record := merge.pop():
            meter.tick(meter.count / total)
            yield record
            await merge.refill(TopicPartition(record.topic, record.partition))
        meter.done()
    finally:
        await reader.stop()


class _Merge:
    """The next record of all partitions by (timestamp, topic, partition, offset): a heap of
    each partition's head, each refilled from the reader when it runs dry."""

    STALL_SECONDS = 60.0

    def __init__(self, reader: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        self.reader, self.ends = reader, ends
        self.buffers: dict[TopicPartition, deque[ConsumerRecord[Any, Any]]] = {}
        self.heap: list[tuple[int, str, int, int]] = []

    async def refill(self, tp: TopicPartition) -> None:
        buffer = self.buffers.setdefault(tp, deque())
        if not buffer:
            stalled = time.monotonic() + self.STALL_SECONDS
            while not buffer and await self.reader.position(tp) < self.ends[tp]:
                if time.monotonic() > stalled:
                    raise ConfigurationError(f"{tp.topic}[{tp.partition}] stopped being read")
                batch = await self.reader.getmany(tp, timeout_ms=1000, max_records=1000)
                buffer.extend(r for r in batch.get(tp, ()) if r.offset < self.ends[tp])
            if not buffer:
                return
        head = buffer[0]  # the partition's one entry: refill comes after its last was popped
        heapq.heappush(self.heap, (head.timestamp, tp.topic, tp.partition, head.offset))

    def pop(self) -> ConsumerRecord[Any, Any] | None:
        if not self.heap:
            return None
        _, topic, partition, _ = heapq.heappop(self.heap)
        return self.buffers[TopicPartition(topic, partition)].popleft()


class _Meter:
    """The progress line on stderr for a long replay: at most twice a second, after the
    first second."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out, self.count = out, 0
        self.started = self.shown = time.monotonic()

    def tick(self, done: float) -> None:
        """One more record or line read; `done`, the share of the input read so far."""
        self.count += 1
        now = time.monotonic()
        if self.out is not None and now - self.started > 1 and now - self.shown > 0.5:
            self.shown = now
            show_progress(self.out, done, self.count, now - self.started)

    def done(self) -> None:
        if self.out is not None and self.shown > self.started:
            self.out.write("\n")


def _lines(path: Path, progress: IO[str] | None) -> Iterator[tuple[int, bytes]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    total, meter = path.stat().st_size or 1, _Meter(progress)
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, line
            meter.tick(handle.tell() / total)
    meter.done()


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
