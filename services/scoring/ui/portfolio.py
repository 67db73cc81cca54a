"""The portfolio page's data: every account's listing columns, filtered and sorted worst first
in one read, the totals a monthly review needs, and for the page shown its sparklines and
active triggers in one read each (never one per row).

The filters work on the account record (profile): CSM, tier and segment live there, not in
columns, and totals need every filtered account's ARR and renewal date anyway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.tables import accounts, health_history
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


@dataclass
class Listed:
    account_id: str
    name: str
    score: int | None
    band: str
    profile: dict[str, Any]
    sparkline: list[int] = field(default_factory=list)
    active_triggers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def csm_key(self) -> str | None:
        csm = self.profile.get("csm") or {}
        return csm.get("email") or csm.get("name")

    @property
    def arr(self) -> float:
        return float(self.profile.get("arr") or 0)

    @property
    def renewal_date(self) -> date | None:
        value = self.profile.get("renewal_date")
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            return None


@dataclass
class BandTotal:
    accounts: int = 0
    arr: float = 0.0


@dataclass
class Portfolio:
    rows: list[Listed]
    matching: int
    page: int
    pages: int
    by_band: dict[str, BandTotal]
    renewals: BandTotal  # renewing within RENEWAL_HORIZON_DAYS
    csms: list[tuple[str, str]]  # (key, name) of every CSM, for the filter
    tiers: list[int]
    segments: list[str]


async def load_portfolio(engine: AsyncEngine, filters: Filters, now: datetime) -> Portfolio:
    every = await _every_account(engine)
    matching = [a for a in every if _matches(a, filters)]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(max(filters.page, 1), pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    await _add_sparklines(engine, shown, now)
    await _add_active_triggers(engine, shown)
    return Portfolio(
        rows=shown,
        matching=len(matching),
        page=page,
        pages=pages,
        by_band=_by_band(matching),
        renewals=_renewing(matching, now.date()),
        **_choices(every),
    )


async def _every_account(engine: AsyncEngine) -> list[Listed]:
    c = accounts.c
    query = select(c.account_id, c.name, c.score, c.band, c.profile).order_by(
        c.score.asc().nulls_last(), c.account_id
    )  # the order of GET /v1/accounts: worst first, unscored last
    return [
        Listed(
            r.account_id,
            r.name or r.account_id,
            r.score,
            r.band,
            orjson.loads(r.profile) if r.profile else {},
        )
        for r in await read_rows(engine, query)
    ]


def _matches(account: Listed, filters: Filters) -> bool:
    profile = account.profile
    return (
        (filters.band is None or account.band == filters.band)
        and (filters.csm is None or account.csm_key == filters.csm)
        and (filters.tier is None or profile.get("tier") == filters.tier)
        and (filters.segment is None or profile.get("segment") == filters.segment)
    )


def _by_band(listed: Sequence[Listed]) -> dict[str, BandTotal]:
    totals = {band: BandTotal() for band in BANDS}
    for account in listed:
        total = totals.setdefault(account.band, BandTotal())
        total.accounts += 1
        total.arr += account.arr
    return totals


def _renewing(listed: Sequence[Listed], today: date) -> BandTotal:
    until = today + timedelta(days=RENEWAL_HORIZON_DAYS)
    total = BandTotal()
    for account in listed:
        renewal = account.renewal_date
        if renewal is not None and today <= renewal <= until:
            total.accounts += 1
            total.arr += account.arr
    return total


def _choices(every: Sequence[Listed]) -> dict[str, Any]:
    csms: dict[str, str] = {}
    tiers: set[int] = set()
    segments: set[str] = set()
    for account in every:
        if key := account.csm_key:
            csms.setdefault(key, (account.profile.get("csm") or {}).get("name") or key)
        if isinstance(tier := account.profile.get("tier"), int):
            tiers.add(tier)
        if segment := account.profile.get("segment"):
            segments.add(segment)
    return {
        "csms": sorted(csms.items(), key=lambda item: (item[1].lower(), item[0])),
        "tiers": sorted(tiers),
        "segments": sorted(segments),
    }


async def _add_sparklines(engine: AsyncEngine, shown: list[Listed], now: datetime) -> None:
    """The page's history points of the last SPARKLINE_DAYS, in one read."""
    if not shown:
        return
    h = health_history.c
    query = (
        select(h.account_id, h.score)
        .where(
            h.account_id.in_([a.account_id for a in shown]),
            h.at >= now - timedelta(days=SPARKLINE_DAYS),
            h.score.is_not(None),
        )
        .order_by(h.account_id, h.at, h.id)
    )
    by_account = {a.account_id: a for a in shown}
    for row in await read_rows(engine, query):
        by_account[row.account_id].sparkline.append(row.score)


async def _add_active_triggers(engine: AsyncEngine, shown: list[Listed]) -> None:
    """The firing triggers of the page's accounts, as their health has them, in one read."""
    if not shown:
        return
    c = accounts.c
    query = select(c.account_id, c.health).where(c.account_id.in_([a.account_id for a in shown]))
    by_account = {a.account_id: a for a in shown}
    for row in await read_rows(engine, query):
        health = orjson.loads(row.health) if row.health else {}
        by_account[row.account_id].active_triggers = health.get("active_triggers", [])
