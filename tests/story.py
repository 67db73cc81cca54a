"""Sixty days of fourteen accounts, as data: the story behind the trigger catalogue's
end-to-end test (tests/test_story.py). Each account lives one of the playbook's situations,
and `expected` says which triggers its history must fire, once each, and `resolved` which
episodes end within it. Everything is sent through the input topics a day at a time, in
event-time order, as a new user loads last quarter's history; the last day is yesterday, so
the accounts are live and the tick moves their clocks to today."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.clock import iso

DAYS = 60
DEPARTMENTS = ["operations", "finance", "engineering"]
FEATURES = ["reports", "dashboards", "workflows"]


@dataclass
class Story:
    now: datetime
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (topic, value)
    days: dict[date, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (account, type)
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)
    seq: int = 0

    @property
    def start(self) -> datetime:
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=DAYS)

    def at(self, day: float) -> datetime:
        return self.start + timedelta(days=day)

    def date(self, day: float) -> str:
        return self.at(day).date().isoformat()

    def event(self, topic: str, account: str, day: float, **fields: Any) -> None:
        self.seq += 1
        value = {
            "event_id": f"{account}-{self.seq}",
            "account_id": account,
            "occurred_at": iso(self.at(day)),
            **fields,
        }
        self.days[self.at(day).date()].append((topic, value))

    def account(self, account: str, csm: str, **fields: Any) -> None:
        body = {
            "account_id": account,
            "name": account.title(),
            "tier": 2,
            "csm": {"name": csm.title(), "email": f"{csm}@vendor.example", "slack": f"U{csm}"},
            "plan": {"name": "Growth", "period": "month", "limits": {}},
            **fields,
        }
        self.records.append(("accounts", body))

    def team(
        self,
        account: str,
        people: int,
        days: Iterable[int],
        features: list[str] = FEATURES,
        first: int = 0,
    ) -> None:
        """`people` people of three departments log in every day, and each uses a feature."""
        for day in days:
            for i in range(first, first + people):
                hour = 9 + i / 4
                self.login(account, f"p{i}", day + hour / 24)
                feature = features[i % len(features)] if features else None
                if feature:
                    self.event(
                        "product_usage",
                        account,
                        day + (hour + 0.1) / 24,
                        user_id=f"p{i}",
                        feature=feature,
                    )

    def login(self, account: str, user: str, day: float) -> None:
        number = int(user[1:]) if user[1:].isdigit() else 0
        self.event(
            "logins",
            account,
            day,
            user_id=user,
            email=f"{user}@{account}.example",
            department=DEPARTMENTS[number % len(DEPARTMENTS)],
        )

    def in_order(self) -> list[list[tuple[str, dict[str, Any]]]]:
        return [
            sorted(self.days[d], key=lambda item: item[1].get("occurred_at", ""))
            for d in sorted(self.days)
        ]


def build(now: datetime) -> Story:
    s = Story(now=now)
    whole = range(DAYS)

    # alpha: healthy, five people of three departments, three core features daily. Nothing.
    s.account("alpha", "ann")
    s.team("alpha", 5, whole)

    # bravo: healthy and adopted, and this month it uses 85%, then all, of its API calls:
    # both plan limits, and an expansion conversation is due.
    s.account(
        "bravo", "ben", plan={"name": "Growth", "period": "month", "limits": {"api_calls": 10000}}
    )
    s.team("bravo", 5, whole)
    for i in range(10):  # yesterday, 10:00 to 19:00: 80% at the eighth, all at the tenth
        s.event("product_usage", "bravo", DAYS - 1 + (10 + i) / 24, metric="api_calls", value=1000)
    s.expected.update(
        [("bravo", "plan_limit_80"), ("bravo", "plan_limit_100"), ("bravo", "expansion_ready")]
    )

    # charlie: one engineer, every day: single-threaded once its first fortnight is over.
    s.account("charlie", "cat")
    s.team("charlie", 1, whole)
    s.expected.update([("charlie", "single_threaded"), ("charlie", "low_adoption")])

    # delta: its champion leaves on day 40 (a CRM record).
    s.account("delta", "dan")
    s.team("delta", 5, whole)
    # (the records go out before the history; the leaving is sent with day 40's events)

    # echo: the champion stops on day 20 while the others go on; back on day 50.
    s.account("echo", "eve")
    s.team("echo", 4, whole, first=1)
    s.team("echo", 1, [*range(0, 21), *range(50, DAYS)])
    s.expected[("echo", "champion_quiet")] += 1
    s.resolved[("echo", "champion_quiet")] += 1

    # foxtrot: four people who only ever use two features: low adoption from day 30.
    s.account("foxtrot", "fay")
    s.team("foxtrot", 4, whole, features=FEATURES[:2])
    s.expected[("foxtrot", "low_adoption")] += 1

    # golf: busy for six weeks, then a third of the activity.
    s.account("golf", "gil")
    s.team("golf", 6, range(0, 42))
    s.team("golf", 2, range(42, DAYS))
    s.expected[("golf", "usage_decline")] += 1

    # hotel: a ticket a month, then five in two days.
    s.account("hotel", "hal")
    s.team("hotel", 5, whole)
    for day in (3, 33):
        s.event("support", "hotel", day + 0.6, ticket_id=f"H{day}", status="opened", priority="low")
    for i in range(5):
        s.event(
            "support", "hotel", 50 + i / 3, ticket_id=f"S{i}", status="opened", priority="normal"
        )
    s.expected[("hotel", "support_spike")] += 1

    # india: a detractor answers the NPS survey.
    s.account("india", "ivy")
    s.team("india", 5, whole)
    s.event(
        "surveys",
        "india",
        45.6,
        email="p0@india.example",
        survey="nps",
        score=3,
        comment="exports keep failing",
    )
    s.expected[("india", "nps_detractor")] += 1

    # juliet: a promoter on a healthy account.
    s.account("juliet", "jo")
    s.team("juliet", 5, whole)
    s.event("surveys", "juliet", 45.6, email="p1@juliet.example", survey="nps", score=10)
    s.expected[("juliet", "advocacy_ready")] += 1

    # kilo: renews in 60 days (its window opened 30 days ago) with two people using two
    # features: the window, the renewal at risk, a single-threaded account, low adoption.
    renewal = (s.now + timedelta(days=60)).date().isoformat()
    s.account("kilo", "kim", renewal_date=renewal)
    s.team("kilo", 2, whole)
    s.expected.update(
        [
            ("kilo", "renewal_window"),
            ("kilo", "renewal_at_risk"),
            ("kilo", "single_threaded"),
            ("kilo", "low_adoption"),
        ]
    )

    # lima: started 25 days ago; nobody logged in before its third day, and only two people.
    s.account("lima", "lou", start_date=s.date(35))
    s.team("lima", 2, range(37, DAYS))
    s.expected[("lima", "onboarding_stalled")] += 2  # first_login and team
    s.expected[("lima", "single_threaded")] += 1  # two people, past its first fortnight

    # mike: three people for a month, then seven: seats growing on an adopted, healthy account.
    s.account("mike", "max")
    s.team("mike", 3, range(0, 30))
    s.team("mike", 7, range(30, DAYS))
    s.expected.update([("mike", "seat_growth"), ("mike", "expansion_ready")])

    # november: three people who logged in twice a week go daily from day 32; three others
    # were daily all along. A daily habit on an adopted, healthy account: expansion too.
    s.account("november", "nia")
    s.team("november", 3, whole)
    for day in range(DAYS):
        if day >= 32 or day % 7 in (0, 3):
            for i in (3, 4, 5):
                s.login("november", f"p{i}", day + (10 + i) / 24)
    s.expected.update([("november", "login_frequency_up"), ("november", "expansion_ready")])

    # oscar: started ten days ago and has sent nothing at all: the tick notices.
    s.account("oscar", "oz", start_date=s.date(50))
    s.expected[("oscar", "onboarding_stalled")] += 2  # first_login and first_core_feature

    # delta's champion, recorded at the start and leaving on day 40.
    s.records.append(
        (
            "stakeholders",
            {"account_id": "delta", "email": "p0@delta.example", "name": "Dee", "role": "champion"},
        )
    )
    s.records.append(
        (
            "stakeholders",
            {"account_id": "echo", "email": "p0@echo.example", "name": "Eli", "role": "champion"},
        )
    )
    s.days[s.at(40).date()].append(
        (
            "stakeholders",
            {
                "account_id": "delta",
                "email": "p0@delta.example",
                "name": "Dee",
                "role": "champion",
                "status": "left",
            },
        )
    )
    s.expected[("delta", "champion_left")] += 1
    return s


def story_now() -> datetime:
    return datetime.now(UTC)
