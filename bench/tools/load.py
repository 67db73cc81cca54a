"""By hand: the memory and time scoring needs to load N stored accounts, the way a partition
assignment loads them (processor.assign). Not a test and not run by CI.

    python -m bench.tools.load --accounts 1000000

Builds a few hundred distinct accounts by applying a month of events to each (a profile, five
people, logins, usage with features, a ticket; event ids are UUIDs, as producers tend to send),
stores N accounts cloned from them under new ids in a fresh database, then starts a process
that loads them all and reports its resident memory before and after, and how long it took.

    python -m bench.tools.load --accounts 1000000 --restart

also runs `pulse scoring` itself on those accounts, with an embedded broker: started, ready
(/readyz 200), killed with SIGKILL as a crash would, started again; it reports the seconds from
each start to ready, and the restarted process's RSS once ready. With `--touch K` the
restarted process then gets one event for each of K accounts, which decodes them as live
traffic would (up to PULSE_SCORING_HOT_ACCOUNTS stay decoded), and its RSS is reported again;
with `--backlog` too, those events are sent while it is down and worked off after the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from bench.processes import Children, wait_ready
from harness.database import admin_dsn
from harness.processes import pulse_command, pulse_env
from harness.signals import account_record, login, stakeholder, support, usage
from harness.waiting import wait_for
from migrations import migrate
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.packing import pack_document, times_of
from services.scoring.accounts.repository import load_partitions
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import load
from services.scoring.settings import ScoringSettings
from shared.config import Topics
from shared.contracts.signals import Signal
from shared.db.engine import create_engine
from shared.kafka import EmbeddedBroker, free_port, partition_of

PG_ADMIN_DSN = admin_dsn(None, "PULSE_TEST_PG_DSN")

TEMPLATES = 500
PARTITIONS = 8
FEATURES = ["dashboards", "reports.export", "alerts", "search", "workflows", "api.keys"]


def template(index: int, rng: random.Random) -> AccountState:
    account = f"tmpl-{index:07d}"
    state = AccountState(account, 0)
    rules, dedup = load(None), DedupWindow.of(ScoringSettings())

    def apply(signal: dict[str, Any]) -> None:
        # Events arrive as they happen; the late tickets below, when they are applied.
        apply_signal(
            state,
            cast(Signal, {**signal, "signal_id": str(uuid.UUID(int=rng.getrandbits(128)))}),
            rules,
            dedup,
            arrived=max(state.now, signal.get("ts", 0.0)),
        )

    apply(
        account_record(
            account,
            {"api_calls": 50_000.0, "seats": 50.0, "storage_gb": 200.0},
            name=f"Customer {index}",
            tier=rng.randint(1, 3),
            arr=float(rng.randrange(10, 500) * 1000),
            csm={"name": f"CSM {index % 40}", "email": f"csm{index % 40}@vendor.example"},
            renewal_date="2027-09-30",
        )
    )
    people = [f"{account}-u{j}" for j in range(5)]
    for j in range(3):
        apply(
            stakeholder(
                account,
                f"p{j}@{account}.example",
                user_id=people[j],
                role=["champion", "decision_maker", "user"][j],
                title="Manager",
            )
        )
    for day in range(30):
        for _ in range(rng.randint(0, 2)):
            apply(login(account, rng.choice(people), day + rng.random() / 2))
        apply(
            usage(
                account,
                day + 0.5 + rng.random() / 2,
                metric="api_calls",
                value=float(rng.randint(10, 2000)),
                user_id=rng.choice(people),
                feature=rng.choice(FEATURES),
            )
        )
    apply(support(account, 12.0, "T1", "opened", priority="high"))
    apply(support(account, 14.0, "T1", "closed", csat=rng.randint(1, 5)))
    return state


async def populate(url: str, accounts: int) -> tuple[float, float]:
    """N stored accounts; the mean JSON and packed sizes of a state."""
    rng = random.Random(1)
    states = [template(i, rng) for i in range(TEMPLATES)]
    documents = [s.to_json() for s in states]
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    now, packed_total = datetime.now(UTC), 0
    try:
        for start in range(0, accounts, 50_000):
            rows = []
            for i in range(start, min(accounts, start + 50_000)):
                state, document = states[i % TEMPLATES], documents[i % TEMPLATES]
                account = f"acct-{i:07d}"
                blob = pack_document(
                    times_of(state), document.replace(state.account_id.encode(), account.encode())
                )
                packed_total += len(blob)
                health = orjson.dumps({"account_id": account, **state.health}).decode()
                rows.append(
                    (
                        account,
                        partition_of(account.encode(), PARTITIONS),  # as the producers route it
                        state.name,
                        state.health["score"],
                        state.health["band"],
                        None,
                        health,
                        "[]",
                        blob,
                        now,
                    )
                )
            await connection.copy_records_to_table(
                "accounts",
                records=rows,
                columns=[
                    "account_id",
                    "partition",
                    "name",
                    "score",
                    "band",
                    "profile",
                    "health",
                    "recent_records",
                    "state",
                    "updated_at",
                ],
            )
    finally:
        await connection.close()
    mean_json = sum(map(len, documents)) / len(documents)
    return mean_json, packed_total / accounts


def _rss() -> tuple[int, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


async def measure(url: str) -> dict[str, float]:
    """Run in its own process: load every account as processor.assign does."""
    engine = create_engine(url)
    store = AccountCache(ScoringSettings().scoring_hot_accounts)
    before, _ = _rss()
    started = time.perf_counter()
    async for rows in load_partitions(engine, range(PARTITIONS)):
        for account_id, partition, blob in rows:
            store.load(account_id, partition, blob)
    seconds = time.perf_counter() - started
    await engine.dispose()
    after, peak = _rss()
    return {
        "loaded": len(store),
        "seconds": seconds,
        "rss_before": before,
        "rss_after": after,
        "hwm": peak,
    }


async def send_touches(bootstrap: str, touch: int, accounts: int) -> None:
    """One usage signal (as ingest writes them) for each of `touch` stored accounts, spread
    over all of them, the day after their month."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        for n in range(touch):
            account = f"acct-{n * (accounts // touch):07d}"
            signal = {**usage(account, 30.5, metric="api_calls", value=1.0), "signal_id": f"t{n}"}
            await producer.send(Topics().signals, orjson.dumps(signal), key=account.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_stored(url: str, touch: int) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))

    async def all_stored() -> bool:
        stored = await connection.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE topic = $1",
            Topics().signals,
        )
        return bool(stored >= touch)

    try:
        await wait_for(all_stored, timeout=600, interval=0.2, what=f"{touch:,} events stored")
    finally:
        await connection.close()


async def restart(url: str, accounts: int, touch: int, backlog: bool) -> None:
    """`pulse scoring` on the stored accounts: start, ready, kill -9, start again, ready;
    then, if `touch`, an event for that many accounts, sent once the restarted process is
    ready (live traffic) or, with `backlog`, while it was down (worked off after the restart)."""
    log_dir = Path(tempfile.mkdtemp(prefix="pulse-bench-load-"))
    broker = EmbeddedBroker()
    await broker.start()
    try:
        env = pulse_env(
            os.environ,
            bootstrap=broker.bootstrap,
            database_url=url,
            topics=Topics(),
            group_prefix=f"bench-load-{uuid.uuid4().hex[:6]}",
            partitions=PARTITIONS,
            replication_factor=1,
            api_port=free_port(),
        )
        with Children(log_dir) as children:
            for label in ("first start", "restart after kill -9"):
                restarting = label.startswith("restart")
                if touch and backlog and restarting:
                    await send_touches(broker.bootstrap, touch, accounts)
                child = children.start(f"pulse scoring ({label})", pulse_command("scoring"), env)
                api = f"http://127.0.0.1:{env['PULSE_API_PORT']}"
                seconds = await wait_ready(child, api, timeout=600)
                rss = child.memory().rss_bytes
                print(f"{label}: ready in {seconds:.1f} s, RSS {rss / 2**20:,.0f} MiB")
                if touch and restarting:
                    started = time.perf_counter()
                    if not backlog:
                        await send_touches(broker.bootstrap, touch, accounts)
                    await wait_stored(url, touch)
                    memory = child.memory()
                    how = "sent while it was down" if backlog else "sent live"
                    print(
                        f"then an event for each of {touch:,} accounts ({how}), stored "
                        f"{time.perf_counter() - started:.1f} s later: RSS "
                        f"{memory.rss_bytes / 2**20:,.0f} MiB, "
                        f"peak {memory.hwm_bytes / 2**20:,.0f} MiB"
                    )
                child.process.kill()
                child.process.wait()
    finally:
        broker.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


async def main(accounts: int, restarts: bool, touch: int, backlog: bool) -> None:
    name = f"pulse_bench_load_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        mean_json, mean_packed = await populate(url, accounts)
        child = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.tools.load", "--measure", url],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        result = json.loads(child.stdout)
        grown = result["rss_after"] - result["rss_before"]
        print(
            f"{result['loaded']:,} accounts loaded in {result['seconds']:.1f} s; "
            f"state {mean_json:,.0f} B as JSON, {mean_packed:,.0f} B packed"
        )
        print(
            f"RSS {result['rss_before'] / 2**20:,.0f} -> {result['rss_after'] / 2**20:,.0f} MiB "
            f"(peak {result['hwm'] / 2**20:,.0f} MiB): {grown / result['loaded']:,.0f} B/account"
        )
        if restarts:
            await restart(url, accounts, touch, backlog)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--restart", action="store_true", help="also time pulse scoring's restart")
    parser.add_argument(
        "--touch",
        type=int,
        default=0,
        help="with --restart: then send an event to this many accounts, and report the RSS",
    )
    parser.add_argument(
        "--backlog", action="store_true", help="send the --touch events while scoring is down"
    )
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
    else:
        asyncio.run(main(args.accounts, args.restart, args.touch, args.backlog))
