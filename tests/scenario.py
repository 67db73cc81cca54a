"""A new user's first weeks, as data: four accounts (two created through the API, two through
cs.accounts), 40 days of logins and usage, duplicates, last month's usage, malformed messages,
and the alerts the contract implies for them: exactly these, once each."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.clock import iso

HISTORY_DAYS = 40


@dataclass
class Scenario:
    now: datetime
    api_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (topic, value)
    days: dict[date, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    malformed: list[tuple[str, bytes]] = field(default_factory=list)
    expected: dict[str, str] = field(default_factory=dict)  # dedup_key -> csm slack id
    seq: int = 0

    @property
    def start(self) -> datetime:
        first = self.now - timedelta(days=HISTORY_DAYS)
        return first.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def month_start(self) -> datetime:
        return self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    @property
    def last_month_start(self) -> datetime:
        return (self.month_start - timedelta(days=1)).replace(day=1)

    def day(self, d: int, hour: float) -> datetime:
        return self.start + timedelta(days=d, hours=hour)

    def event(self, topic: str, account: str, moment: datetime, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        value = {
            "event_id": f"{account}-{self.seq}",
            "account_id": account,
            "occurred_at": iso(moment),
            **fields,
        }
        self.days[moment.date()].append((topic, value))
        return value

    def spread(self, begin: datetime, end: datetime, count: int) -> list[datetime]:
        """count moments evenly inside [begin, end)."""
        step = (end - begin) / (count + 1)
        return [begin + step * (i + 1) for i in range(count)]

    def in_order(self) -> list[list[tuple[str, dict[str, Any]]]]:
        return [
            sorted(self.days[d], key=lambda item: item[1]["occurred_at"]) for d in sorted(self.days)
        ]


def csm(name: str) -> dict[str, str]:
    return {"name": name.title(), "email": f"{name}@vendor.example", "slack": f"U0{name.upper()}"}


def build(now: datetime) -> Scenario:
    s = Scenario(now=now)
    history_end = now - timedelta(minutes=5)
    last_day = (history_end - s.start).days  # index of the newest whole day we may use

    # acme (API): healthy, five people in four departments; 85% of its API calls last month
    # (an alert for last month's period), 50% this month (none).
    s.api_accounts["acme"] = {
        "name": "Acme Corp",
        "tier": 1,
        "arr": 120000,
        "csm": csm("sam"),
        "plan": {"name": "Growth", "period": "month", "limits": {"api_calls": 100000, "seats": 50}},
        "renewal_date": (now + timedelta(days=100)).date().isoformat(),
    }
    departments = ["operations", "finance", "engineering", "operations", "sales"]
    for d in range(last_day):
        for i, department in enumerate(departments):
            login = s.event(
                "logins",
                "acme",
                s.day(d, 9 + i),
                user_id=f"a{i}",
                email=f"a{i}@acme.example",
                department=department,
            )
            s.event(
                "product_usage",
                "acme",
                s.day(d, 9.5 + i),
                user_id=f"a{i}",
                feature=["reports", "dashboards", "alerts", "export", "sso"][i],
            )
            if d % 10 == 0 and i == 0:  # the SSO system sometimes sends a login twice
                s.days[s.day(d, 9).date()].append(("logins", dict(login)))
    last_month_begin = max(s.last_month_start, s.start + timedelta(hours=1))
    last_month = s.spread(last_month_begin, s.month_start, 17)
    for moment in last_month:
        s.event("product_usage", "acme", moment, metric="api_calls", value=5000)
    for moment in s.spread(s.month_start, history_end, 10):
        s.event("product_usage", "acme", moment, metric="api_calls", value=5000)
    s.expected[f"acme:plan_limit_80:api_calls:{s.last_month_start:%Y-%m}"] = "U0SAM"
    # A tier 1 account renewing in 100 days is in its renewal window (120 days for tier 1).
    s.expected[f"acme:renewal_window:{s.api_accounts['acme']['renewal_date']}"] = "U0SAM"
    # Healthy, five core features in use, and near a plan limit: ready for expansion, judged
    # at the next event. One comes a minute after the sixteenth call (80% of the limit), on the
    # same topic: the key's date is that day's whatever order the topics are read in.
    eightieth = last_month[15]
    s.event(
        "product_usage", "acme", eightieth + timedelta(minutes=1), user_id="a0", feature="reports"
    )
    s.expected[f"acme:expansion_ready:{eightieth.date().isoformat()}"] = "U0SAM"

    # globex (cs.accounts): 70% of a 1,000-call limit this month, every event sent twice:
    # counted once, it stays under 80%, so no alert.
    s.records.append(
        (
            "accounts",
            {
                "account_id": "globex",
                "name": "Globex",
                "csm": csm("hank"),
                "plan": {"period": "month", "limits": {"api_calls": 1000}},
            },
        )
    )
    for d in range(last_day):
        for i in range(4):
            s.event(
                "logins",
                "globex",
                s.day(d, 10 + i),
                user_id=f"g{i}",
                department=["finance", "marketing"][i % 2],
            )
    for moment in s.spread(s.month_start, history_end, 7):
        usage = s.event("product_usage", "globex", moment, metric="api_calls", value=100)
        s.days[moment.date()].append(("product_usage", dict(usage)))

    # initech (cs.accounts): one engineer, every day: single-threaded once its onboarding
    # fortnight is over (pending from day 14, firing a week later).
    s.records.append(
        ("accounts", {"account_id": "initech", "name": "Initech", "csm": csm("peter")})
    )
    for d in range(last_day):
        s.event("logins", "initech", s.day(d, 11), user_id="i0", department="engineering")
    s.expected[f"initech:single_threaded:{s.day(14, 11).date().isoformat()}"] = "U0PETER"

    # umbrella (API): four people the first week, then silence; one comes back and opens two
    # urgent tickets: health falls into red.
    s.api_accounts["umbrella"] = {"name": "Umbrella", "csm": csm("alice")}
    for d in range(6):
        for i in range(4):
            s.event("logins", "umbrella", s.day(d, 8 + i), user_id=f"u{i}")
    back = last_day - 3
    s.event("logins", "umbrella", s.day(back, 9), user_id="u0")
    s.event("logins", "umbrella", s.day(back + 1, 9), user_id="u0")
    for ticket in ("T-1", "T-2"):
        s.event(
            "support",
            "umbrella",
            s.day(back + 1, 14),
            ticket_id=ticket,
            status="opened",
            priority="urgent",
            category="bug",
            requester_email="u0@umbrella.example",
        )
    s.expected[f"umbrella:health_red:{s.day(back + 1, 0).date().isoformat()}"] = "U0ALICE"

    # Stakeholders through the CRM topic; malformed messages on every input topic.
    s.records.append(
        (
            "stakeholders",
            {
                "account_id": "initech",
                "email": "i0@initech.example",
                "name": "Ira",
                "role": "champion",
            },
        )
    )
    s.malformed = [
        ("product_usage", b'{"event_id": "x1", "account_id": "acme"}'),
        (
            "product_usage",
            b'{"event_id": "x2", "account_id": "acme", "occurred_at": '
            b'"2026-11-20T10:00:00Z", "metric": "api_calls", "value": "lots"}',
        ),
        ("logins", b"not json at all"),
        (
            "logins",
            b'{"event_id": "x3", "account_id": "acme", "occurred_at": "yesterday",'
            b' "user_id": "a0"}',
        ),
        (
            "support",
            b'{"event_id": "x4", "account_id": "acme", "occurred_at": '
            b'"2026-11-20T10:00:00Z", "ticket_id": "T9", "status": "exploded"}',
        ),
        ("accounts", b'["acme"]'),
        ("stakeholders", b'{"account_id": "acme", "email": "not-an-email"}'),
    ]
    return s


def scenario_now() -> datetime:
    return datetime.now(UTC)
