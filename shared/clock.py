"""Wall-clock time in one place, so tests and time-driven rules can reason about it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | float) -> str:
    """RFC 3339 in UTC with Z, as the contract writes every time; `value` is a datetime or
    epoch seconds."""
    moment = from_ts(value) if isinstance(value, int | float) else as_utc(value)
    return moment.isoformat().replace("+00:00", "Z")


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
