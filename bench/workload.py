"""The benchmark's input: a deterministic, seeded mix of accounts and events.

For N accounts and M events: one account record per account (plan with limits, CSM), one
stakeholder record for every second account, and M events over the 30 days before `end`, in
event-time order: about 70% usage (a third of them metered api_calls), 20% logins and 10%
support tickets. A few large accounts get most of the traffic, as in real products. About 1%
of the accounts cross 80% of their api_calls limit in the month; the others stay at 40%.

Every message is valid, so each one becomes exactly one signal: the benchmark counts
completion by that. Everything here is pure: the same arguments give the same messages.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from harness.vocabulary import DEPARTMENTS, FEATURES, TITLES

# Field names of shared.config.Topics, i.e. which input topic a message goes to.
USAGE, LOGINS, SUPPORT, ACCOUNTS, STAKEHOLDERS = (
    "product_usage",
    "logins",
    "support",
    "accounts",
    "stakeholders",
)
SPAN = timedelta(days=30)
USAGE_SHARE, LOGINS_SHARE = 0.7, 0.2  # the rest is support
METERED_SHARE = 1 / 3  # usage events that report api_calls rather than a feature use
CROSSING_SHARE = 0.01  # accounts that reach 80% of their api_calls limit
CROSSING_RATIO, NORMAL_RATIO = 0.9, 0.4  # of the limit, per account and month
# Account popularity: index = N * u**SKEW puts most events on the low indices.
SKEW = 1.5
API_LIMITS = (50_000.0, 100_000.0, 250_000.0)
CSMS = 20
TWO_PEOPLE_SHARE = 0.05  # accounts with two users: single-threaded by definition
ONBOARDED = 3  # an account's first events are feature uses by this many of its people


def account_id(index: int) -> str:
    return f"acct-{index:07d}"


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # a field name of shared.config.Topics
    value: dict[str, Any]

    @property
    def key(self) -> bytes:
        return str(self.value["account_id"]).encode()

    def encode(self) -> bytes:
        return orjson.dumps(self.value)


@dataclass
class Workload:
    accounts: int
    people: list[int]  # how many people use each account
    events: list[Message]
    records: list[Message]
    crossing: list[str]  # accounts whose api_calls reach 80% of the limit
    seed: int
    end: datetime

    @property
    def messages(self) -> list[Message]:
        """Records first (as a CRM sync would load them), then events in time order."""
        return self.records + self.events

    def counts(self) -> dict[str, int]:
        return dict(Counter(m.topic for m in self.messages))


def build(accounts: int, events: int, *, seed: int, end: datetime) -> Workload:
    rng = random.Random(seed)
    people = [2 if rng.random() < TWO_PEOPLE_SHARE else rng.randint(3, 8) for _ in range(accounts)]
    limits = [rng.choice(API_LIMITS) for _ in range(accounts)]
    records = [_account_record(i, limits[i], rng, end) for i in range(accounts)]
    records += [_stakeholder_record(i) for i in range(0, accounts, 2)]
    generator = _EventGenerator(rng, people, seed)
    generator.keep_the_mix(events)
    start = end - SPAN
    stream = [
        generator.event(start + SPAN * ((k + rng.random()) / max(events, 1)), k)
        for k in range(events)
    ]
    crossing = _pick_crossing(stream, accounts)
    _set_metered_values(stream, limits, set(crossing))
    return Workload(accounts, people, stream, records, crossing, seed, end)


def _account_record(i: int, api_limit: float, rng: random.Random, end: datetime) -> Message:
    csm = i % CSMS
    return Message(
        ACCOUNTS,
        {
            "account_id": account_id(i),
            "name": f"Customer {i}",
            "tier": 1 + i % 3,
            "arr": float(rng.randrange(5_000, 500_000, 1_000)),
            "csm": {
                "name": f"CSM {csm}",
                "email": f"csm{csm}@vendor.example",
                "slack": f"UCSM{csm:05d}",
            },
            "plan": {
                "name": "Growth",
                "period": "month",
                "limits": {"api_calls": api_limit, "seats": 50.0, "storage_gb": 200.0},
            },
            "renewal_date": (end + timedelta(days=rng.randint(30, 365))).date().isoformat(),
        },
    )


def _person(i: int, j: int) -> tuple[str, str, str]:
    """user_id, email and department of person j of account i."""
    aid = account_id(i)
    return f"{aid}-u{j}", f"u{j}@{aid}.example", DEPARTMENTS[(i + j) % len(DEPARTMENTS)]


def _stakeholder_record(i: int) -> Message:
    _, email, department = _person(i, 0)
    return Message(
        STAKEHOLDERS,
        {
            "account_id": account_id(i),
            "email": email,
            "name": f"Champion {i}",
            "title": "VP Operations",
            "department": department,
            "role": "champion",
        },
    )


@dataclass
class _EventGenerator:
    rng: random.Random
    people: list[int]
    seed: int
    open_tickets: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    tickets: int = 0
    turns: Counter[int] = field(default_factory=Counter)
    usage_draw: float = USAGE_SHARE
    logins_draw: float = LOGINS_SHARE

    def keep_the_mix(self, events: int) -> None:
        """Draw the other events so that, with the onboarding uses, the whole stream is
        still about 70% usage, 20% logins and 10% support."""
        onboarding = sum(min(ONBOARDED, p) for p in self.people)
        forced = min(USAGE_SHARE, onboarding / max(events, 1))
        self.usage_draw = (USAGE_SHARE - forced) / (1 - forced)
        self.logins_draw = LOGINS_SHARE / (1 - forced)

    def _next_person(self, i: int) -> tuple[str, str, str]:
        # People of an account take turns: in a real account, the people who use the
        # product do so week after week, not by lottery.
        self.turns[i] += 1
        return _person(i, self.turns[i] % self.people[i])

    def event(self, at: datetime, k: int) -> Message:
        rng = self.rng
        i = int(len(self.people) * rng.random() ** SKEW)
        base = {
            "event_id": f"b{self.seed}-{k}",
            "account_id": account_id(i),
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.turns[i] < min(ONBOARDED, self.people[i]):
            # Its first events show the account in use by several people (as accounts are
            # before they churn), rather than single-threaded for lack of a history.
            user_id, _, _ = self._next_person(i)
            return Message(USAGE, {**base, "user_id": user_id, "feature": FEATURES[0]})
        roll = rng.random()
        if roll < self.usage_draw:
            return Message(USAGE, {**base, **self._usage(i)})
        if roll < self.usage_draw + self.logins_draw:
            return Message(LOGINS, {**base, **self._login(i)})
        return Message(SUPPORT, {**base, **self._ticket(i)})

    def _usage(self, i: int) -> dict[str, Any]:
        if self.rng.random() < METERED_SHARE:
            return {"metric": "api_calls", "value": 0.0}  # value set once counts are known
        user_id, _, _ = self._next_person(i)
        return {"user_id": user_id, "feature": self.rng.choice(FEATURES)}

    def _login(self, i: int) -> dict[str, Any]:
        user_id, email, department = self._next_person(i)
        return {
            "user_id": user_id,
            "email": email,
            "title": self.rng.choice(TITLES),
            "department": department,
        }

    def _ticket(self, i: int) -> dict[str, Any]:
        rng, open_ = self.rng, self.open_tickets[i]
        if open_ and rng.random() < 0.6:
            ticket = open_[0]
            if rng.random() < 0.5:
                return {"ticket_id": ticket, "status": "updated", "priority": "high"}
            open_.pop(0)
            return {"ticket_id": ticket, "status": "solved", "csat": rng.randint(1, 5)}
        self.tickets += 1
        ticket = f"T-{self.seed}-{self.tickets}"
        open_.append(ticket)
        return {
            "ticket_id": ticket,
            "status": "opened",
            "priority": rng.choice(("low", "normal", "normal", "high", "urgent")),
            "category": rng.choice(("bug", "question", "feature_request", "billing", "other")),
        }


def _metered(message: Message) -> bool:
    return message.topic == USAGE and "metric" in message.value


def _pick_crossing(stream: list[Message], accounts: int) -> list[str]:
    """About 1% of the accounts, spread over the ones that report api_calls at all."""
    candidates = sorted({str(m.value["account_id"]) for m in stream if _metered(m)})
    wanted = max(1, round(accounts * CROSSING_SHARE))
    step = max(1, len(candidates) // wanted)
    return candidates[::step][:wanted]


def _set_metered_values(stream: list[Message], limits: list[float], crossing: set[str]) -> None:
    """Each account's api_calls in a month add up to 90% of its limit if it is one of the
    crossing accounts, else 40%: so exactly the chosen ones fire plan_limit_80."""
    metered = [m for m in stream if _metered(m)]
    per_month = Counter(_month_key(m) for m in metered)
    for m in metered:
        aid = str(m.value["account_id"])
        ratio = CROSSING_RATIO if aid in crossing else NORMAL_RATIO
        limit = limits[int(aid.removeprefix("acct-"))]
        m.value["value"] = round(limit * ratio / per_month[_month_key(m)], 2)


def live_events(workload: Workload, passes: int) -> list[Message]:
    """The events as the latency phase replays them: live, so all within the current month,
    and `passes` times over. Replayed as they are, each account's metered usage would add
    up, in that one month, to its whole stream's (about twice its monthly share, the stream
    spans two months) once per pass: a fifth of the accounts would cross 80% rather than 1%,
    and their alerts would swamp the latency measured. So each metered value is divided by
    the months its account's stream spans, and, for an account that must stay under, by the
    passes too: the crossing accounts cross within the first pass, the others stay at 40%."""
    crossing = set(workload.crossing)
    months: defaultdict[str, set[str]] = defaultdict(set)
    for m in workload.events:
        if _metered(m):
            account, month = _month_key(m)
            months[account].add(month)
    replayed = []
    for m in workload.events:
        if _metered(m):
            account = str(m.value["account_id"])
            share = len(months[account]) * (1 if account in crossing else passes)
            m = Message(m.topic, {**m.value, "value": round(m.value["value"] / share, 2)})
        replayed.append(m)
    return replayed


def _month_key(message: Message) -> tuple[str, str]:
    return str(message.value["account_id"]), str(message.value["occurred_at"])[:7]


def warm_up(workload: Workload) -> list[Message]:
    """The records, then each account in use by its first people in the hour before `end`:
    every account loaded, engaged and active today, as accounts are in a busy product, in
    about 4.5 messages per account. (Loading the whole stream instead would take as long
    as a throughput run.)"""
    start = workload.end - timedelta(hours=1)
    events = []
    for i, people in enumerate(workload.people):
        for j in range(min(ONBOARDED, people)):
            at = start + timedelta(minutes=50 * i / workload.accounts + 3 * j)
            user_id, _, _ = _person(i, j)
            value = {
                "event_id": f"w{workload.seed}-{i}-{j}",
                "account_id": account_id(i),
                "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "user_id": user_id,
                "feature": FEATURES[j % len(FEATURES)],
            }
            events.append(Message(USAGE, value))
    events.sort(key=lambda m: str(m.value["occurred_at"]))
    return workload.records + events
