"""Ingest's per-record CPU cost, by hand (not a test), on the `pulse bench` workload.

    python -m bench.tools.convert [events] [repeats]

Builds the seeded workload (10,000 accounts; records, then events), turns each message into
the ConsumerRecord ingest would read, and reports the best of `repeats` passes in µs per
message, overall and per kind, of:

- models: validation as it was, through the pydantic models alone (validate, to_signal);
- fast: validation as convert() does it now (decode, then the fast path);
- before: the whole of convert() as it was, models and all (validation, key and bytes);
- convert: the whole of convert() now.

The passes alternate, so a busy machine slows each of them alike.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka.structs import ConsumerRecord

from bench.workload import build
from services.ingest.convert import Accepted, convert, input_kinds, record_id
from services.ingest.fast import fast_signal
from shared.config import Topics
from shared.contracts.inputs import validate
from shared.contracts.messages import decode
from shared.contracts.signals import to_signal

LATEST = datetime(2026, 11, 22, tzinfo=UTC)
LIMIT = 1 << 20


def records(events: int) -> dict[str, list[ConsumerRecord]]:
    """The workload's messages as input records, grouped by kind."""
    topics = Topics()
    kinds = input_kinds(topics)
    workload = build(10_000, events, seed=1, end=LATEST - timedelta(days=1))
    by_kind: dict[str, list[ConsumerRecord]] = defaultdict(list)
    for offset, message in enumerate(workload.messages):
        topic = getattr(topics, message.topic)
        value = message.encode()
        by_kind[kinds[topic]].append(
            ConsumerRecord(topic, 0, offset, 0, 0, message.key, value, None, -1, len(value), ())
        )
    return by_kind


def before(kind: str, record: ConsumerRecord) -> Accepted:
    """convert() as it was for a valid message: everything through the models."""
    message = validate(kind, record.value, max_bytes=LIMIT, latest=LATEST)
    signal = to_signal(kind, message, record_id(record))
    return Accepted(key=signal["account_id"].encode(), value=orjson.dumps(signal))


Way = Callable[[str, ConsumerRecord], object]
WAYS: dict[str, Way] = {
    "models": lambda kind, record: to_signal(
        kind, validate(kind, record.value, max_bytes=LIMIT, latest=LATEST), record_id(record)
    ),
    "fast": lambda kind, record: fast_signal(
        kind, decode(record.value, max_bytes=LIMIT), record_id(record), LATEST
    ),
    "before": before,
    "convert": lambda kind, record: convert(kind, record, max_bytes=LIMIT, latest=LATEST),
}


def seconds(way: Way, kind: str, batch: list[ConsumerRecord]) -> float:
    start = time.perf_counter()
    for record in batch:
        way(kind, record)
    return time.perf_counter() - start


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    by_kind = records(events)
    for kind, batch in by_kind.items():  # every workload message takes the fast path
        assert all(WAYS["fast"](kind, record) is not None for record in batch), kind
    best: dict[tuple[str, str], float] = defaultdict(lambda: float("inf"))
    for _ in range(repeats):
        for kind, batch in by_kind.items():
            for name, way in WAYS.items():
                best[kind, name] = min(best[kind, name], seconds(way, kind, batch))
    print(f"{'µs/message':12}{'count':>8}" + "".join(f"{name:>10}" for name in WAYS))
    for kind, batch in sorted(by_kind.items()):
        cells = "".join(f"{best[kind, name] / len(batch) * 1e6:10.2f}" for name in WAYS)
        print(f"{kind:12}{len(batch):8}{cells}")
    count = sum(len(batch) for batch in by_kind.values())
    totals = "".join(
        f"{sum(best[kind, name] for kind in by_kind) / count * 1e6:10.2f}" for name in WAYS
    )
    print(f"{'all':12}{count:8}{totals}")


if __name__ == "__main__":
    main()
