"""What the portfolio filters, sorts and totals: every account's listing columns and the parts
of its record the page needs, kept in the API process and refreshed at each request with the
rows changed since the last one (docs/ui.md, "Performance").

Reading and decoding every record on every page cost ~150 ms at 10,000 accounts, in Python and
in SQL alike (the record is JSON text); rows changed since the last read are a handful. A row
is read again if its updated_at is within SETTLE_SECONDS of the previous read: a flush stamps
updated_at before it commits, and instances' clocks differ a little. Every RELOAD_SECONDS the
whole table is read again, in the background, so nothing missed can last; only the first read
of the process is on a request's path.

Looking for changes scans the table (10 ms at 10,000 accounts; an index on updated_at would
cost every flush of scoring), so a listing read less than FRESH_SECONDS ago is used as it is:
a page may lag the database by that much."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import accounts
from shared.clock import utcnow
from shared.db.engine import read_rows

log = logging.getLogger(__name__)

LISTED = select(
    accounts.c.account_id, accounts.c.name, accounts.c.score, accounts.c.band, accounts.c.profile
)
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

    def __init__(
        self, fresh_seconds: float = FRESH_SECONDS, reload_seconds: float = RELOAD_SECONDS
    ) -> None:
        self.fresh_seconds = fresh_seconds
        self.reload_seconds = reload_seconds
        self._entries: dict[str, Entry] = {}
        self._sorted: list[Entry] = []
        self._read_at: datetime | None = None  # when the last read began (database clock)
        self._loaded_at = 0.0  # monotonic, of the last whole read
        self._checked_at = -fresh_seconds  # monotonic, of the last read
        self._lock = asyncio.Lock()
        self._choices: Choices | None = None
        self._reloading: asyncio.Task[None] | None = None

    async def current(self, engine: AsyncEngine) -> list[Entry]:
        async with self._lock:
            if self._read_at is None:  # the first read: nothing to show until it is done
                self._take_whole(*await _whole(engine))
            elif time.monotonic() - self._loaded_at > self.reload_seconds and not self._reloading:
                # The whole table again, off the request's path: a page keeps its pace.
                self._reloading = asyncio.create_task(self._reload(engine))
            if time.monotonic() - self._checked_at >= self.fresh_seconds:
                await self._read_changes(engine)
            return self._sorted

    def choices(self) -> Choices:
        """The CSMs, tiers and segments of every account, for the filters."""
        if self._choices is None:
            self._choices = choices_of(self._sorted)
        return self._choices

    async def _read_changes(self, engine: AsyncEngine) -> None:
        assert self._read_at is not None
        started = utcnow()
        since = self._read_at - timedelta(seconds=SETTLE_SECONDS)
        rows = await read_rows(engine, LISTED.where(accounts.c.updated_at > since))
        changed = [e for e in map(entry_of, rows) if self._entries.get(e.account_id) != e]
        if changed:
            self._entries.update((e.account_id, e) for e in changed)
            self._sort()
        self._read_at = started
        self._checked_at = time.monotonic()

    async def _reload(self, engine: AsyncEngine) -> None:
        try:
            entries, started = await _whole(engine)
            async with self._lock:
                self._take_whole(entries, started)
        except Exception as exc:  # the listing read by changes goes on; the next try is due
            log.warning("portfolio listing not reloaded: %s: %s", type(exc).__name__, exc)
        finally:
            self._reloading = None

    def _take_whole(self, entries: dict[str, Entry], started: datetime) -> None:
        self._entries = entries
        self._sort()
        self._loaded_at = time.monotonic()
        # What changed while the table was read is read again at the next request.
        self._read_at = min(self._read_at or started, started)
        self._checked_at = -self.fresh_seconds

    def _sort(self) -> None:
        self._sorted = sorted(self._entries.values(), key=lambda e: e.order)
        self._choices = None


async def _whole(engine: AsyncEngine) -> tuple[dict[str, Entry], datetime]:
    """Every account's entry, and when the read began."""
    started = utcnow()
    rows = await read_rows(engine, LISTED)
    return {e.account_id: e for e in map(entry_of, rows)}, started
