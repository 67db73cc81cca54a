"""The portfolio page's data: the accounts that match the filters, worst first, from the
listing kept in memory (listing.py); the totals a monthly review needs; and for the page
shown, its sparklines and active triggers in one read each (never one per row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import accounts, health_history
from services.scoring.ui.listing import Choices, Entry, Listing
from shared.db.engine import read_rows

PAGE_SIZE = 50
RENEWAL_HORIZON_DAYS = 120
SPARKLINE_DAYS = 30
BANDS = ("red", "yellow", "green", "none")


@dataclass(frozen=True)
class Filters:
    csm: str | None = None  # the CSM's email (or name, for a CSM without one)
    band: str | None = None
    tier: int | None = None
    segment: str | None = None
    page: int = 1

    def match(self, entry: Entry) -> bool:
        return (
            (self.band is None or entry.band == self.band)
            and (self.csm is None or entry.csm_key == self.csm)
            and (self.tier is None or entry.tier == self.tier)
            and (self.segment is None or entry.segment == self.segment)
        )


@dataclass(frozen=True)
class FilterField:
    """A filter's select: its parameter, label, the option meaning any, (value, text) pairs."""

    name: str
    label: str
    everything: str
    options: list[tuple[str, str]]
    current: str


def filter_fields(filters: Filters, choices: Choices) -> list[FilterField]:
    def chosen(value: object) -> str:
        return "" if value is None else str(value)

    tiers = [(str(t), f"Tier {t}") for t in choices.tiers]
    segments = [(s, s) for s in choices.segments]
    return [
        FilterField("csm", "CSM", "Every CSM", choices.csms, chosen(filters.csm)),
        FilterField("band", "Band", "Every band", [(b, b) for b in BANDS], chosen(filters.band)),
        FilterField("tier", "Tier", "Every tier", tiers, chosen(filters.tier)),
        FilterField("segment", "Segment", "Every segment", segments, chosen(filters.segment)),
    ]


@dataclass
class Row:
    """A row of the page: the account's entry, its sparkline and firing triggers."""

    entry: Entry
    sparkline: list[int] = field(default_factory=list)
    active_triggers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Total:
    accounts: int = 0
    arr: float = 0.0

    def add(self, entry: Entry) -> None:
        self.accounts += 1
        self.arr += entry.arr


@dataclass
class Portfolio:
    rows: list[Row]
    matching: int
    page: int
    pages: int
    by_band: dict[str, Total]
    renewals: Total  # renewing within RENEWAL_HORIZON_DAYS
    choices: Choices


async def load_portfolio(
    engine: AsyncEngine, listing: Listing, filters: Filters, now: datetime
) -> Portfolio:
    every = await listing.current(engine)
    matching = [entry for entry in every if filters.match(entry)]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(max(filters.page, 1), pages)
    rows = [Row(entry) for entry in matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    await _add_sparklines(engine, rows, now)
    await _add_active_triggers(engine, rows)
    by_band, renewals = _totals(matching, now.date())
    return Portfolio(rows, len(matching), page, pages, by_band, renewals, listing.choices())


def _totals(matching: Sequence[Entry], today: date) -> tuple[dict[str, Total], Total]:
    by_band = {band: Total() for band in BANDS}
    renewals = Total()
    until = today + timedelta(days=RENEWAL_HORIZON_DAYS)
    for entry in matching:
        by_band.setdefault(entry.band, Total()).add(entry)
        if entry.renewal is not None and today <= entry.renewal <= until:
            renewals.add(entry)
    return by_band, renewals


async def _add_sparklines(engine: AsyncEngine, rows: list[Row], now: datetime) -> None:
    """The page's history points of the last SPARKLINE_DAYS, in one read."""
    if not rows:
        return
    h = health_history.c
    by_account = {row.entry.account_id: row for row in rows}
    query = (
        select(h.account_id, h.score)
        .where(
            h.account_id.in_(list(by_account)),
            h.at >= now - timedelta(days=SPARKLINE_DAYS),
            h.score.is_not(None),
        )
        .order_by(h.account_id, h.at, h.id)
    )
    for point in await read_rows(engine, query):
        by_account[point.account_id].sparkline.append(point.score)


async def _add_active_triggers(engine: AsyncEngine, rows: list[Row]) -> None:
    """The firing triggers of the page's accounts, as their health has them, in one read."""
    if not rows:
        return
    c = accounts.c
    by_account = {row.entry.account_id: row for row in rows}
    query = select(c.account_id, c.health).where(c.account_id.in_(list(by_account)))
    for found in await read_rows(engine, query):
        health = orjson.loads(found.health) if found.health else {}
        by_account[found.account_id].active_triggers = health.get("active_triggers", [])
