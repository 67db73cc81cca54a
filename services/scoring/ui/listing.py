"""What the portfolio filters, sorts and totals: every account's listing columns and the parts
of its record the page needs, kept in the API process and refreshed at each request with the
rows changed since the last one (docs/ui.md, "Performance").

Reading and decoding every record on every page cost ~150 ms at 10,000 accounts, in Python and
in SQL alike (the record is JSON text); rows changed since the last read are a handful. A row
is read again if its updated_at is within SETTLE_SECONDS of the previous read: a flush stamps
updated_at before it commits, and instances' clocks differ a little. Every RELOAD_SECONDS the
whole table is read again, so nothing missed can last.

Looking for changes scans the table (10 ms at 10,000 accounts; an index on updated_at would
cost every flush of scoring), so a listing read less than FRESH_SECONDS ago is used as it is:
a page may lag the database by that much."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import accounts
from shared.clock import as_utc, utcnow
from shared.db.engine import read_rows

SETTLE_SECONDS = 10.0
RELOAD_SECONDS = 300.0
FRESH_SECONDS = 1.0


# Only the parts of the record the page shows: 10,000 records' nested dicts held for the process's
# life made its garbage collections visible in the page's p99.
@dataclass(frozen=True, slots=True)
class Entry:
    account_id: str
    name: str
    score: int | None
    band: str
    csm_key: str | None  # the CSM's email, or name for a CSM without one
    csm_name: str | None
    tier: int | None
    segment: str | None
    arr: float
    renewal: date | None

    @property
    def order(self) -> tuple[bool, int, str]:
        """GET /v1/accounts' order: worst first, accounts without a score last."""
        return (self.score is None, self.score or 0, self.account_id)


def entry_of(row: Any) -> Entry:
    profile = orjson.loads(row.profile) if row.profile else {}
    csm = profile.get("csm") or {}
    tier = profile.get("tier")
    return Entry(
        account_id=row.account_id,
        name=row.name or row.account_id,
        score=row.score,
        band=row.band,
        csm_key=csm.get("email") or csm.get("name"),
        csm_name=csm.get("name") or csm.get("email"),
        tier=tier if isinstance(tier, int) else None,
        segment=profile.get("segment") or None,
        arr=float(profile.get("arr") or 0),
        renewal=_date(profile.get("renewal_date")),
    )


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Choices:
    csms: list[tuple[str, str]]  # (key, name), by name
    tiers: list[int]
    segments: list[str]


def choices_of(entries: list[Entry]) -> Choices:
    csms = {e.csm_key: e.csm_name or e.csm_key for e in entries if e.csm_key}
    return Choices(
        csms=sorted(csms.items(), key=lambda item: (item[1].lower(), item[0])),
        tiers=sorted({e.tier for e in entries if e.tier is not None}),
        segments=sorted({e.segment for e in entries if e.segment}),
    )


class Listing:
    """Every account's Entry, worst first (the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._sorted: list[Entry] = []
        self._read_at: datetime | None = None
        self._loaded_at = 0.0  # monotonic, of the last full read
        self._checked_at = -FRESH_SECONDS  # monotonic, of the last read
        self._lock = asyncio.Lock()
        self._choices: Choices | None = None

    async def current(self, engine: AsyncEngine) -> list[Entry]:
        async with self._lock:
            if time.monotonic() - self._checked_at >= FRESH_SECONDS:
                await self._refresh(engine)
                self._checked_at = time.monotonic()
            return self._sorted

    def choices(self) -> Choices:
        """The CSMs, tiers and segments of every account, for the filters."""
        if self._choices is None:
            self._choices = choices_of(self._sorted)
        return self._choices

    async def _refresh(self, engine: AsyncEngine) -> None:
        c = accounts.c
        query = select(c.account_id, c.name, c.score, c.band, c.profile)
        whole = self._read_at is None or time.monotonic() - self._loaded_at > RELOAD_SECONDS
        started = utcnow()
        if not whole:
            assert self._read_at is not None
            query = query.where(c.updated_at > self._read_at - timedelta(seconds=SETTLE_SECONDS))
        rows = await read_rows(engine, query)
        if whole:
            self._entries = {}
            self._loaded_at = time.monotonic()
        changed = [e for e in map(entry_of, rows) if self._entries.get(e.account_id) != e]
        self._entries.update((e.account_id, e) for e in changed)
        if changed or whole:
            self._sorted = sorted(self._entries.values(), key=lambda e: e.order)
            self._choices = None
        self._read_at = as_utc(started)
