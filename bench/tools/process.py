"""By hand: scoring's processor with its writes, no broker. Not a test and not run by CI.

    python -m bench.tools.process [--accounts 10000] [--events 200000] [--batch 20000] [--steps]

Turns `pulse bench`'s messages into signals as ingest does (bench.tools.apply), then feeds
them to a ScoringProcessor in batches of --batch, as the consumer loop does when it works off
a backlog, and awaits each batch's write on a fresh PostgreSQL database (PULSE_BENCH_DATABASE_URL
or the local server). Nothing is relayed. Reports this process's CPU per signal, the part spent
in the writes and the garbage collector's part; with --steps, also the time in each step of
the processor (where scoring's CPU goes beyond the apply core), at the price of two clock
reads per step that add to the total.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from bench.tools.apply import CollectorTime, signals
from harness.database import admin_dsn, fresh_database
from migrations import migrate
from services.scoring import processor as processor_module
from services.scoring.accounts import repository
from services.scoring.processor import ScoringProcessor
from services.scoring.settings import ScoringSettings
from shared.db.engine import create_engine
from shared.eventloop import pace_garbage_collection

TOPIC = "cs.signals"
# (module, function): each call's CPU time is added up under the function's name; the
# processor calls them, but pack_account, which account_row calls.
STEPS = [
    (processor_module, "decode_signal"),
    (processor_module, "apply_signal"),
    (processor_module, "chart"),
    (processor_module, "refresh_health"),
    (repository, "account_row"),
    (repository, "pack_account"),
]


def time_steps(spent: dict[str, float]) -> None:
    for module, name in STEPS:
        setattr(module, name, _timed(getattr(module, name), name, spent))


def _timed(function: Callable[..., Any], name: str, spent: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started

    return timed


async def run(accounts: int, events: int, batch: int, steps: bool) -> None:
    pace_garbage_collection()
    encoded = signals(accounts, events)
    records = [
        ConsumerRecord(TOPIC, 0, n, 1_763_000_000_000 + n, 0, None, value, None, 0, len(value), ())
        for n, value in enumerate(encoded)
    ]
    spent: dict[str, float] = defaultdict(float)
    if steps:
        time_steps(spent)
    async with fresh_database(admin_dsn(None), f"pulse_process_{uuid.uuid4().hex[:8]}") as url:
        engine = create_engine(url)
        await migrate(engine)
        processor = ScoringProcessor(ScoringSettings(), engine, None)  # no broker

        async def no_relay(fired: Any) -> bool:  # no broker: the outbox keeps them
            return True

        processor.relay.triggers = no_relay  # type: ignore[method-assign]
        collecting = CollectorTime()
        gc.callbacks.append(collecting)
        started = time.process_time()
        for first in range(0, len(records), batch):
            part = {TopicPartition(TOPIC, 0): records[first : first + batch]}
            write = await processor.process(part, None)  # type: ignore[arg-type]
            before = time.process_time()
            await write()
            spent["the writes (CPU)"] += time.process_time() - before
        seconds = time.process_time() - started
        gc.callbacks.remove(collecting)
        await engine.dispose()
    per = 1e6 / len(records)
    print(f"{len(records):,} signals in batches of {batch:,}: {seconds * per:.1f} µs of CPU each")
    print(f"  garbage collection: {collecting.seconds * per:.1f} µs per signal")
    for name, total in spent.items():
        within = " (within account_row)" if name == "pack_account" else ""
        print(f"  {name}{within}: {total * per:.1f} µs per signal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--steps", action="store_true", help="time each step (adds its own cost)")
    args = parser.parse_args()
    asyncio.run(run(args.accounts, args.events, args.batch, args.steps))


if __name__ == "__main__":
    main()
