"""Event-time helpers: days, plan periods and ISO text from epoch seconds (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

DAY = 86400.0


def day_of(ts: float) -> int:
    return int(ts // DAY)


def month_of(ts: float) -> str:
    return _month_of_day(int(ts // DAY))


@lru_cache(maxsize=4096)
def _month_of_day(day: int) -> str:
    # Called for nearly every event: a day's month never changes, so format it once.
    return datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m")


def period_of(ts: float, period: str) -> str:
    """The plan period containing ts: "2026-11" for a monthly plan, "2026" for a yearly one."""
    return month_of(ts)[:4] if period == "year" else month_of(ts)


def months_in(period_key: str) -> list[str]:
    if len(period_key) == 4:
        return [f"{period_key}-{m:02d}" for m in range(1, 13)]
    return [period_key]


def date_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


@lru_cache(maxsize=4096)
def start_of_date(text: str) -> float:
    """The epoch seconds of a YYYY-MM-DD date's 00:00 UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
