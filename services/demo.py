"""Synthetic telemetry for a first run: a few dozen accounts, 40 days of history, then a
trickle of live events, so a newcomer sees scores move and alerts fire within a minute.

Archetypes, in turn: healthy, close to its API limit, single-threaded, slipping away, and
filling its seats. The stream is deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from harness.vocabulary import DEPARTMENTS, FEATURES
from shared.clock import iso
from shared.config import BaseServiceSettings
from shared.kafka import create_producer
from shared.streaming import sleep_or_stop

log = logging.getLogger(__name__)

ARCHETYPES = ("healthy", "near_limit", "single_threaded", "slipping", "seats")
SEGMENTS = ("enterprise", "mid-market", "smb")
HISTORY_DAYS = 40
API_LIMIT = 100_000
NPS = {"healthy": 10, "near_limit": 9, "single_threaded": 8, "slipping": 4, "seats": 9}


def account_records(count: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for i in range(count):
        kind = ARCHETYPES[i % len(ARCHETYPES)]
        account_id = f"demo-{i:03d}"
        yield (
            account_id,
            {
                "account_id": account_id,
                "name": f"Demo {kind.replace('_', ' ').title()} {i:03d}",
                "tier": 1 + i % 3,
                "segment": SEGMENTS[i % 4 % 3],
                "arr": 20_000 + 5_000 * i,
                "csm": {
                    "name": f"CSM {i % 4}",
                    "email": f"csm{i % 4}@vendor.example",
                    "slack": f"UDEMO{i % 4:04d}",
                },
                "plan": {
                    "name": "Growth",
                    "period": "month",
                    "limits": {
                        "seats": 8 if kind == "seats" else 50,
                        "api_calls": API_LIMIT,
                        "storage_gb": 200,
                    },
                },
                "renewal_date": (datetime.now(UTC) + timedelta(days=30 + 7 * i)).date().isoformat(),
            },
        )


def _people(kind: str, account_id: str) -> list[tuple[str, str]]:
    if kind == "single_threaded":
        return [(f"{account_id}-u0", "operations"), (f"{account_id}-u1", "operations")]
    size = 7 if kind == "seats" else 5
    return [(f"{account_id}-u{j}", DEPARTMENTS[j % len(DEPARTMENTS)]) for j in range(size)]


def history(count: int, now: datetime, seed: int = 7) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic kind, event) pairs in event-time order: 40 days ending now."""
    rng = random.Random(seed)
    start = now - timedelta(days=HISTORY_DAYS)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    seq = 0
    for day in range(HISTORY_DAYS):
        for i, (account_id, _) in enumerate(account_records(count)):
            kind = ARCHETYPES[i % len(ARCHETYPES)]
            people = _people(kind, account_id)
            if kind == "slipping" and day > 5:
                people = people[:1] if day % 6 == 0 else []  # one person, now and then
            for user, department in people:
                if rng.random() < 0.25:
                    continue
                moment = start + timedelta(days=day, hours=8 + rng.random() * 9)
                seq += 1
                yield (
                    "logins",
                    {
                        "event_id": f"demo-l{seq}",
                        "account_id": account_id,
                        "occurred_at": iso(moment),
                        "user_id": user,
                        "email": f"{user}@{account_id}.example",
                        "department": department,
                    },
                )
                seq += 1
                yield (
                    "product_usage",
                    {
                        "event_id": f"demo-f{seq}",
                        "account_id": account_id,
                        "occurred_at": iso(moment + timedelta(minutes=5)),
                        "user_id": user,
                        "feature": rng.choice(FEATURES),
                    },
                )
            moment = start + timedelta(days=day, hours=20)
            this_month = moment >= month_start
            # Spread the month's API budget: near_limit accounts end near 85% of it.
            share = 0.85 if kind == "near_limit" else 0.3
            days_in_month = max(1, (now - month_start).days + 1)
            if kind != "slipping" or day <= 5:
                seq += 1
                yield (
                    "product_usage",
                    {
                        "event_id": f"demo-m{seq}",
                        "account_id": account_id,
                        "occurred_at": iso(moment),
                        "metric": "api_calls",
                        "value": round(API_LIMIT * share / (days_in_month if this_month else 30)),
                    },
                )
            if day == HISTORY_DAYS // 2:  # the quarterly NPS survey
                for user, _ in _people(kind, account_id)[:2]:
                    seq += 1
                    yield (
                        "surveys",
                        {
                            "event_id": f"demo-n{seq}",
                            "account_id": account_id,
                            "occurred_at": iso(moment),
                            "user_id": user,
                            "survey": "nps",
                            "score": NPS[kind] - rng.randint(0, 1),
                        },
                    )
            if kind == "slipping" and day in (HISTORY_DAYS - 4, HISTORY_DAYS - 3, HISTORY_DAYS - 2):
                seq += 1
                yield (
                    "support",
                    {
                        "event_id": f"demo-s{seq}",
                        "account_id": account_id,
                        "occurred_at": iso(moment),
                        "ticket_id": f"{account_id}-T{day}",
                        "status": "opened",
                        "priority": "urgent",
                        "category": "bug",
                    },
                )


async def run_demo(
    settings: BaseServiceSettings, stop: asyncio.Event, accounts: int = 30, live: bool = True
) -> None:
    producer = create_producer(settings)
    await producer.start()
    try:
        now = datetime.now(UTC)
        await _send_all(producer, settings, (("accounts", r) for _, r in account_records(accounts)))
        sent = await _send_all(producer, settings, history(accounts, now - timedelta(minutes=1)))
        log.info("demo: %d accounts and %d events of history sent", accounts, sent)
        if live:
            await _live(producer, settings, accounts, stop)
    finally:
        await producer.stop()


async def _send_all(
    producer: AIOKafkaProducer,
    settings: BaseServiceSettings,
    items: Iterator[tuple[str, dict[str, Any]]] | Any,
) -> int:
    futures = []
    for topic_kind, event in items:
        topic = getattr(settings.topics, topic_kind)
        futures.append(
            await producer.send(topic, orjson.dumps(event), key=event["account_id"].encode())
        )
    await asyncio.gather(*futures)
    return len(futures)


async def _live(
    producer: AIOKafkaProducer, settings: BaseServiceSettings, accounts: int, stop: asyncio.Event
) -> None:
    """A few logins and feature uses a second, from the accounts that are still active."""
    rng = random.Random(11)
    seq = 0
    while not stop.is_set():
        batch = []
        for _ in range(5):
            i = rng.randrange(accounts)
            kind = ARCHETYPES[i % len(ARCHETYPES)]
            if kind == "slipping":
                continue
            account_id = f"demo-{i:03d}"
            user, department = rng.choice(_people(kind, account_id))
            seq += 1
            batch.append(
                (
                    "logins",
                    {
                        "event_id": f"demo-live-{int(time.time())}-{seq}",
                        "account_id": account_id,
                        "occurred_at": iso(datetime.now(UTC)),
                        "user_id": user,
                        "department": department,
                    },
                )
            )
        await _send_all(producer, settings, iter(batch))
        await sleep_or_stop(stop, 1.0)
