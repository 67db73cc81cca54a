"""A seeded stream for fault tests: by default 380 accounts with plans and CSMs and four weeks
of usage, logins and support tickets (about 50,000 events). Some accounts cross plan limits,
some are single-threaded, some fade into red, so every trigger type fires.

The stream is cut into steps. A step holds one input kind for one stretch of event time, so
every account's events of a step sit on one input partition, in event-time order; the driver
sends a step only once ingest has passed on the one before. The order in which scoring sees
each account's events is then the same in every run, with or without faults, and so are the
final states and triggers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.vocabulary import DEPARTMENTS, FEATURES
from shared.clock import iso

# Event time, well in the past (ingest rejects the future) and across a month boundary, so
# plan periods roll over mid-stream.
START = datetime(2026, 9, 17, tzinfo=UTC)
KINDS = (("product_usage", 0), ("logins", 8), ("support", 16))  # (topic field, first hour)

Item = tuple[str, dict[str, Any]]  # (Topics field, message value)


@dataclass
class Workload:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    steps: list[list[Item]] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)  # account_id -> how it behaves

    @property
    def events(self) -> int:
        return sum(len(step) for step in self.steps)

    def event_ids(self) -> set[str]:
        return {value["event_id"] for step in self.steps for _, value in step}


def build(
    seed: int = 7,
    accounts: int = 380,
    days: int = 28,
    start: datetime = START,
    heavy_events: int = 25,  # a heavy account's events to reach its monthly limit
) -> Workload:
    rng = random.Random(seed)
    w = Workload()
    profiles = w.profiles
    users: dict[str, int] = {}
    limits: dict[str, int] = {}
    for n in range(accounts):
        account_id = f"acct-{n:03d}"
        profile = rng.choice(["healthy", "healthy", "heavy", "single", "fading"])
        profiles[account_id] = profile
        users[account_id] = {"single": 1, "fading": 2}.get(profile) or rng.randint(3, 7)
        limit = rng.choice([20_000, 50_000, 100_000])
        limits[account_id] = limit
        csm = f"csm{n % 9}"
        w.accounts.append(
            {
                "account_id": account_id,
                "name": f"Account {n:03d}",
                "tier": 1 + n % 3,
                "csm": {"name": csm.title(), "email": f"{csm}@vendor.example", "slack": f"U{csm}"},
                "plan": {"period": "month", "limits": {"api_calls": limit, "seats": 50}},
                # Customers for a month already: past single_threaded's grace fortnight.
                "start_date": (start - timedelta(days=30)).date().isoformat(),
            }
        )
    seq = 0
    for day in range(days):
        for topic, first_hour in KINDS:
            step: list[Item] = []
            for account in w.accounts:
                account_id = account["account_id"]
                profile = profiles[account_id]
                moments = sorted(rng.uniform(0, 8) for _ in range(rng.randint(1, 4)))
                for offset in moments:
                    at = start + timedelta(days=day, hours=first_hour + offset)
                    per_event = limits[account_id] / (heavy_events if profile == "heavy" else 400)
                    value = _message(rng, topic, profile, users[account_id], per_event, day)
                    if value is None:
                        continue
                    seq += 1
                    value.update(event_id=f"{topic[0]}-{seq}", account_id=account_id)
                    value["occurred_at"] = iso(at)
                    step.append((topic, value))
            w.steps.append(step)
    return w


def _message(
    rng: random.Random, topic: str, profile: str, users: int, per_event: float, day: int
) -> dict[str, Any] | None:
    if profile == "fading" and day > 6 and topic != "support" and rng.random() < 0.97:
        return None  # fading: silence after the first week, then urgent tickets
    if topic == "product_usage":
        if rng.random() < 0.5:
            return {"metric": "api_calls", "value": int(per_event * rng.uniform(0.5, 1.5))}
        return {"user_id": f"user-{rng.randrange(users)}", "feature": rng.choice(FEATURES)}
    if topic == "logins":
        user = rng.randrange(users)
        return {
            "user_id": f"user-{user}",
            "email": f"user-{user}@customer.example",
            "department": DEPARTMENTS[user % len(DEPARTMENTS)],
        }
    # support: fading accounts open urgent bugs; others the odd question
    if profile == "fading" and day > 10 and rng.random() < 0.5:
        return _ticket(rng, "opened", "urgent", "bug")
    if rng.random() < 0.1:
        return _ticket(rng, rng.choice(["opened", "closed"]), "normal", "question")
    return None


def _ticket(rng: random.Random, status: str, priority: str, category: str) -> dict[str, Any]:
    return {
        "ticket_id": f"T-{rng.randrange(10**6)}",
        "status": status,
        "priority": priority,
        "category": category,
    }


WORKLOAD = build(seed=7)
# Outage tests stream a shorter workload: the fault, not the volume, is what they exercise.
SMALL = build(seed=11, accounts=100, days=16)
