"""The portfolio's listing kept by the API (services/scoring/ui/listing.py) against the run's
database: it follows the accounts' rows as scoring writes them, and a change it could not see
by its updated_at still shows after the whole table is read again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.waiting import wait_for
from services.scoring.tables import accounts
from services.scoring.ui.listing import Listing
from shared.clock import utcnow


def _row(account_id: str, score: int, csm: str, at: datetime) -> dict[str, Any]:
    """An accounts row with what the listing reads (the state is scoring's, not read here)."""
    return {
        "account_id": account_id,
        "partition": 0,
        "name": account_id.title(),
        "score": score,
        "band": "red" if score < 40 else "green",
        "profile": orjson.dumps({"csm": {"name": csm}, "arr": 1000, "tier": 1}).decode(),
        "health": "{}",
        "recent_records": "[]",
        "state": b"",
        "updated_at": at,
    }


async def _shown(listing: Listing, engine: AsyncEngine) -> list[tuple[str, int | None, str]]:
    return [(e.account_id, e.score, e.csm_name or "") for e in await listing.current(engine)]


async def test_the_listing_follows_the_accounts_and_catches_up_by_reading_them_all(
    engine: AsyncEngine,
) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            insert(accounts), [_row("acme", 80, "Sam", now), _row("globex", 30, "Kim", now)]
        )
    listing = Listing(fresh_seconds=0.1, reload_seconds=3600)
    assert await _shown(listing, engine) == [("globex", 30, "Kim"), ("acme", 80, "Sam")]

    async with engine.begin() as conn:  # as a flush writes it: stamped now
        await conn.execute(
            update(accounts).where(accounts.c.account_id == "acme").values(score=20,
                                                                            updated_at=utcnow())
        )  # fmt: skip
    expected = [("acme", 20, "Sam"), ("globex", 30, "Kim")]

    async def followed() -> bool:
        return await _shown(listing, engine) == expected

    await wait_for(followed, what="acme's new score, worst first")

    # A row stamped long before it became visible (a clock far behind): only a whole read
    # finds it, which the next request after reload_seconds starts without waiting for it.
    async with engine.begin() as conn:
        await conn.execute(insert(accounts), [_row("initech", 10, "Sam", now - timedelta(hours=1))])
    assert await _shown(listing, engine) == expected
    listing.reload_seconds = 0

    async def caught_up() -> bool:
        return [a for a, _, _ in await _shown(listing, engine)] == ["initech", "acme", "globex"]

    await wait_for(caught_up, what="initech after the whole table was read again")
