"""One account's compact state: what scoring keeps in memory and stores as one blob.

Everything is bounded: usage by month, activity by day, the ids of the last day's signals, so
a million accounts fit in one instance and loading a partition is one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

import orjson

from services.scoring.accounts import daymask
from services.scoring.accounts.time import DAY, day_of, start_of_date
from services.scoring.settings import ScoringSettings

Person = dict[str, Any]

ACTIVITY_DAYS = 60
FEATURE_DAYS = 90
CLOSED_TICKET_DAYS = 30
USAGE_MONTHS = 14
CSAT_KEPT = 10
OPENED_DAYS = 91  # tickets opened: the support component's and support_spike's reach
# Ticket openings timed exactly, for support_spike's windows: more than any threshold needs.
OPENINGS_KEPT = 1000
SURVEY_DAYS = 180
RESPONDENTS_KEPT = 200
RECORDS_KEPT = 16
# Each person's days of activity ("act") and of logins ("logins"), as day masks this many
# days wide: seat_growth looks 60 days back, login_frequency_up 28, and behind the watermark
# the rules may judge a day weeks before the account's newest event.
DAY_MASKS = {"act": 96, "logins": 64}


_PERSON: dict[str, Any] = {"user_id": None, "email": None}


def signal_key(signal_id: str) -> int:
    """A signal id as an account remembers it: 8 bytes of its BLAKE2b hash. Ids run to 200
    characters (UUIDs, typically) and each account remembers thousands: kept whole they
    would be most of an account's memory. A new id sharing the key of one remembered, which
    would drop it as a duplicate, has odds of n in 2^64 with n ids remembered."""
    digest = blake2b(signal_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass(frozen=True, slots=True)
class DedupWindow:
    """How long an account remembers a signal id, to drop a producer's duplicates: at least
    `seconds` after it arrived, however many ids arrive meanwhile, and forgotten by twice
    that. Duplicates come from retries and re-run upstream jobs, close in arrival time
    whatever their event time; remembering ids for a fixed time, not a fixed count, is what
    makes the window exact for a busy account and small for a quiet one."""

    seconds: float

    @classmethod
    def of(cls, settings: ScoringSettings) -> DedupWindow:
        return cls(settings.dedup_window_hours * 3600)


@dataclass(slots=True)
class AccountState:
    account_id: str
    partition: int
    profile: dict[str, Any] | None = None
    # The account's clock (epoch seconds): its newest event time, moved on by the tick while
    # the account is live (accounts/ticking.py); 0 before the first event.
    now: float = 0.0
    newest: float = 0.0  # the newest event time itself
    first_seen: float = 0.0  # the first activity (login or usage) event's time; 0 before one
    # When the account first logged in ("login") and first used a core feature ("core"), for
    # the onboarding milestones.
    firsts: dict[str, float] = field(default_factory=dict)
    usage: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> month -> sum
    gauges: dict[str, list[float]] = field(default_factory=dict)  # metric -> [value, ts]
    people: dict[str, Person] = field(default_factory=dict)
    activity: dict[int, int] = field(default_factory=dict)  # day -> login and usage events
    features: dict[str, float] = field(default_factory=dict)  # feature -> last used
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    csat: list[list[float]] = field(default_factory=list)  # tickets' [ts, score], oldest first
    opened_days: dict[int, int] = field(default_factory=dict)  # day -> tickets opened
    openings: list[float] = field(default_factory=list)  # when each was opened, oldest first
    nps: dict[str, list[float]] = field(default_factory=dict)  # respondent -> latest [ts, score]
    survey_csat: list[list[float]] = field(default_factory=list)  # [ts, score], oldest first
    # signal_keys in two generations, oldest first: those that arrived since seen_since
    # (arrival: epoch seconds, when ingest published the signal), and the generation before.
    seen: dict[int, None] = field(default_factory=dict)
    seen_before: dict[int, None] = field(default_factory=dict)
    seen_since: float = 0.0
    rules: dict[str, Any] = field(default_factory=dict)
    recent_records: list[str] = field(default_factory=list)
    # The health document. Stored without its explanations (each component's why and
    # inputs): they are most of its bytes, the health column holds
    # them, and a loaded state gets them back before its row is built (is_explained).
    health: dict[str, Any] = field(default_factory=dict)
    # The last history point: [score, band, scorecard_version]; and the score at each day it
    # changed (day -> score), for the trend (health/history.py).
    last_point: list[Any] = field(default_factory=list)
    daily: dict[int, Any] = field(default_factory=dict)
    # Derived, never stored: indexes rebuilt on load, and whether `health` lags behind
    # events applied without a full evaluation (see apply.is_quiet).
    health_stale: bool = False
    # The date and scorecard version usage_decline was last judged at (triggers/days.py):
    # judging again changes nothing, so a loaded account starts without one.
    judged: tuple[int, str | None] = (-1, None)
    # When the tick is next due for a decoded account (AccountCache.schedule).
    due: float = float("inf")
    # Days whose events the rules have not judged yet (the clock is past the watermark,
    # accounts/watermark.py): day -> the time of its latest such event.
    waiting: dict[int, float] = field(default_factory=dict)
    # The signal_id of each waiting day's latest event: the cause of the history point its
    # judgement charts (health/history.py). Stored only while days wait.
    causes: dict[int, str] = field(default_factory=dict)
    by_user: dict[str, str] = field(default_factory=dict)
    by_email: dict[str, str] = field(default_factory=dict)
    # Only a merge can leave the indexes other than reindex() would build them.
    merged: bool = False

    @property
    def name(self) -> str:
        return str((self.profile or {}).get("name") or self.account_id)

    @property
    def plan(self) -> dict[str, Any]:
        return (self.profile or {}).get("plan") or {}

    def remember(self, signal_id: str, arrived: float, window: DedupWindow) -> bool:
        """Record a signal id; False if it was already seen (a producer duplicate)."""
        key = signal_key(signal_id)
        if self.knows(key):
            return False
        self.keep(key, arrived, window)
        return True

    def knows(self, key: int) -> bool:
        return key in self.seen or key in self.seen_before

    def keep(self, key: int, arrived: float, window: DedupWindow) -> None:
        # A generation starts when the current one is a window old, and the one before it
        # is forgotten then: every key outlives its arrival by a window, without a time each.
        if arrived - self.seen_since >= window.seconds:
            self.seen_before, self.seen, self.seen_since = self.seen, {}, arrived
        self.seen[key] = None

    def active_at(self, ts: float) -> None:
        """An activity event happened at ts (late ones included)."""
        if self.first_seen == 0.0 or ts < self.first_seen:
            self.first_seen = ts

    @property
    def start(self) -> float:
        """The catalogue's start: start_date (00:00 UTC) when the record has one, else the
        first activity event; 0.0 before either."""
        return self.start_date_at or self.first_seen

    @property
    def start_date_at(self) -> float:
        """The record's start_date, 00:00 UTC; 0.0 without one."""
        start_date = (self.profile or {}).get("start_date")
        return start_of_date(start_date) if start_date else 0.0

    def advance(self, ts: float) -> None:
        """Move the account's event time forward (late events leave it where it is)."""
        if ts > self.now:
            new_day = day_of(ts) != day_of(self.now)
            self.now = ts
            if new_day:
                self.prune()

    def prune(self) -> None:
        """Forget what no window can reach any more."""
        # Runs at the first event of each account's day: each kind is only scanned when its
        # oldest entry has left the window, which is rarely.
        oldest_day = day_of(self.now) - ACTIVITY_DAYS
        if self.activity and min(self.activity) < oldest_day:
            for day in [d for d in self.activity if d < oldest_day]:
                del self.activity[day]
        oldest = self.now - FEATURE_DAYS * DAY
        if self.features and min(self.features.values()) < oldest:
            # The newest feature stays: an account that reported features and stopped using
            # them has adoption 0, not adoption without data.
            newest = max(self.features, key=self.features.__getitem__)
            for feature in [f for f, ts in self.features.items() if ts < oldest and f != newest]:
                del self.features[feature]
        if self.opened_days and min(self.opened_days) <= day_of(self.now) - OPENED_DAYS:
            for day in [d for d in self.opened_days if d <= day_of(self.now) - OPENED_DAYS]:
                del self.opened_days[day]
        if self.openings and self.openings[0] <= self.now - OPENED_DAYS * DAY:
            self.openings = [ts for ts in self.openings if ts > self.now - OPENED_DAYS * DAY]
        oldest = self.now - SURVEY_DAYS * DAY
        for respondent in [r for r, (ts, _) in self.nps.items() if ts < oldest]:
            del self.nps[respondent]
        oldest = self.now - CLOSED_TICKET_DAYS * DAY
        for tid in [
            t
            for t, ticket in self.tickets.items()
            if ticket["status"] == "closed" and ticket["updated"] < oldest
        ]:
            del self.tickets[tid]
        for months in self.usage.values():
            if len(months) > USAGE_MONTHS:
                for month in sorted(months)[:-USAGE_MONTHS]:
                    del months[month]

    def person(self, user_id: str | None = None, email: str | None = None) -> Person:
        """The person these identifiers name, created or merged as needed."""
        by_user = self.by_user.get(user_id) if user_id else None
        by_email = self.by_email.get(email) if email else None
        if by_user and by_email and by_user != by_email:
            self._merge(keep=by_email, gone=by_user)
            by_user = by_email
        pid = by_email or by_user
        if pid is None:
            pid = f"e:{email}" if email else f"u:{user_id}"
            self.people[pid] = {"user_id": None, "email": None, "last_seen": 0.0, "months": []}
        person = self.people[pid]
        if user_id and not person.get("user_id"):
            person["user_id"] = user_id
            self.by_user[user_id] = pid
        if email and not person.get("email"):
            person["email"] = email
            self.by_email[email] = pid
        return person

    def _merge(self, keep: str, gone: str) -> None:
        # The email-matched person usually carries the CRM record; the other was known by
        # user_id from events only. Keep record fields, combine the activity.
        kept, other = self.people[keep], self.people.pop(gone)
        for key, value in other.items():
            if kept.get(key) is None:
                kept[key] = value
        kept["last_seen"] = max(kept["last_seen"], other["last_seen"])
        kept["months"] = sorted(set(kept["months"]) | set(other["months"]))[-USAGE_MONTHS:]
        for key, width in DAY_MASKS.items():
            if days := daymask.merge(kept.get(key), other.get(key), width):
                kept[key] = days
        self.merged = True
        for index in (self.by_user, self.by_email):
            for ident, pid in list(index.items()):
                if pid == gone:
                    index[ident] = keep

    def reindex(self) -> None:
        self.by_user, self.by_email = self._indexes()

    def _indexes(self) -> tuple[dict[str, str], dict[str, str]]:
        return (
            {p["user_id"]: pid for pid, p in self.people.items() if p.get("user_id")},
            {p["email"]: pid for pid, p in self.people.items() if p.get("email")},
        )

    def to_json(self) -> bytes:
        """The whole state as one JSON document: what is stored (accounts.state, packed) and
        what scoring keeps of an account it does not hold decoded (cache.py).

        Whole means three details a plainer document would lose, each of which changes what
        the account does next: the place of a person's unknown fields (filled in later, a
        field keeps its place in memory), identifiers a merge left pointing at a person who
        carries others, and health that lags behind quiet events. from_json() gives back a state
        that goes on exactly as this one would have, after a restart as after an eviction; its
        health has its numbers without their explanations (is_explained)."""
        data: dict[str, Any] = {
            "profile": self.profile,
            "now": self.now,
            "newest": self.newest,
            "first_seen": self.first_seen,
            "firsts": self.firsts,
            "usage": self.usage,
            "gauges": self.gauges,
            "people": self.people,
            "activity": list(self.activity.items()),
            "features": self.features,
            "tickets": self.tickets,
            "csat": self.csat,
            "opened_days": list(self.opened_days.items()),
            "openings": self.openings,
            "nps": self.nps,
            "survey_csat": self.survey_csat,
            "seen": list(self.seen),
            "seen_before": list(self.seen_before),
            "seen_since": self.seen_since,
            "rules": self.rules,
            "waiting": list(self.waiting.items()),
            "recent_records": self.recent_records,
            "health": _numbers_of(self.health),
            "health_stale": self.health_stale,
            "last_point": self.last_point,
            "daily": list(self.daily.items()),
        }
        if self.causes:
            data["causes"] = list(self.causes.items())
        if self.merged and (self.by_user, self.by_email) != self._indexes():
            # Sorted: only lookups use them, so their order must not make two equal states
            # pack differently.
            data["indexes"] = [sorted(self.by_user.items()), sorted(self.by_email.items())]
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, account_id: str, partition: int, document: bytes) -> AccountState:
        """The state to_json() kept, exactly."""
        data = orjson.loads(document)
        state = cls(
            account_id=account_id,
            partition=partition,
            profile=data["profile"],
            now=data["now"],
            # Stored before the tick kept them apart: the clock is the best guess.
            newest=data.get("newest", data["now"]),
            first_seen=data["first_seen"],
            firsts=data.get("firsts", {}),
            usage=data["usage"],
            gauges=data["gauges"],
            # Known fields first, as in a person created here: a stored person is unchanged.
            people={pid: {**_PERSON, **p} for pid, p in data["people"].items()},
            activity={int(d): n for d, n in data["activity"]},
            features=data["features"],
            tickets=data["tickets"],
            csat=data["csat"],
            opened_days={int(d): n for d, n in data.get("opened_days", ())},
            openings=data.get("openings", []),
            nps=data.get("nps", {}),
            survey_csat=data.get("survey_csat", []),
            seen=dict.fromkeys(data["seen"]),
            # Stored before generations: all of it counts as the one before the next.
            seen_before=dict.fromkeys(data.get("seen_before", ())),
            seen_since=data.get("seen_since", 0.0),
            rules=data["rules"],
            waiting={int(day): at for day, at in data.get("waiting", ())},
            causes={int(day): cause for day, cause in data.get("causes", ())},
            recent_records=data["recent_records"],
            health=data["health"],
            health_stale=data["health_stale"],
            last_point=data.get("last_point", []),
            daily={int(d): score for d, score in data.get("daily", ())},
        )
        if "indexes" in data:
            by_user, by_email = data["indexes"]
            state.by_user, state.by_email = dict(by_user), dict(by_email)
            state.merged = True
        else:
            state.reindex()
        return state


def is_explained(health: dict[str, Any]) -> bool:
    """Whether a health document carries each component's why and inputs: one loaded from
    the stored state has only the numbers, until it is computed again."""
    return all("why" in c for c in health.get("components", {}).values())


def _numbers_of(health: dict[str, Any]) -> dict[str, Any]:
    if "components" not in health:
        return health
    numbers = {
        n: {"score": c["score"], "weight": c["weight"]} for n, c in health["components"].items()
    }
    return {**health, "components": numbers}
