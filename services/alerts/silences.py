"""Silences, in Alertmanager's shape and meaning: matchers ({name, value, isRegex, isEqual})
and a time span. While a silence is in force (startsAt <= now < endsAt), a delivery of a
trigger whose labels all its matchers match is recorded `silenced` and never sent. Expiring
one (DELETE) ends it now; it stays listed, expired.

The API writes them, the alerts service reads them: a table of the alerts domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerts.routing.matchers import Labels, Matcher, match_all, silence_matcher
from services.alerts.tables import silences
from shared.clock import as_utc

State = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    silence_id: str
    matchers: list[dict[str, Any]]  # as written: [{name, value, isRegex, isEqual}]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def state(self, at: datetime) -> State:
        if at >= self.ends_at:
            return "expired"
        return "active" if at >= self.starts_at else "pending"

    def mutes(self, labels: Labels, at: datetime) -> bool:
        return self.state(at) == "active" and match_all(self.compiled(), labels)

    def compiled(self) -> list[Matcher]:
        return [compile_matcher(m) for m in self.matchers]


def compile_matcher(matcher: dict[str, Any]) -> Matcher:
    return silence_matcher(
        matcher["name"], matcher["value"], matcher["isRegex"], matcher.get("isEqual", True)
    )


def muting(in_force: Iterable[Silence], labels: Labels, at: datetime) -> Silence | None:
    """The first silence that mutes an alert with these labels at `at`, if any."""
    return next((s for s in in_force if s.mutes(labels, at)), None)


async def create(
    engine: AsyncEngine,
    *,
    matchers: Sequence[dict[str, Any]],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> str:
    silence_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            silences.insert().values(
                silence_id=silence_id,
                matchers=orjson.dumps(list(matchers)).decode(),
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=created_by,
                comment=comment,
                updated_at=now,
            )
        )
    return silence_id


async def listed(engine: AsyncEngine) -> list[Silence]:
    """Every silence, the latest ending first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(silences).order_by(silences.c.ends_at.desc()))
        return [_silence(row) for row in rows]


async def one(engine: AsyncEngine, silence_id: str) -> Silence | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(silences).where(silences.c.silence_id == silence_id))
        ).first()
    return _silence(row) if row is not None else None


async def expire(engine: AsyncEngine, silence_id: str, now: datetime) -> Silence | None:
    """End the silence now (one that ended already keeps its end); None if there is none."""
    c = silences.c
    async with engine.begin() as conn:
        await conn.execute(
            update(silences)
            .where((c.silence_id == silence_id) & (c.ends_at > now))
            .values(ends_at=now, updated_at=now)
        )
    return await one(engine, silence_id)


async def in_force(conn: AsyncConnection, now: datetime) -> list[Silence]:
    """The silences in force at `now`."""
    c = silences.c
    rows = await conn.execute(select(silences).where((c.starts_at <= now) & (c.ends_at > now)))
    return [_silence(row) for row in rows]


def _silence(row: Any) -> Silence:
    return Silence(
        silence_id=row.silence_id,
        matchers=orjson.loads(row.matchers),
        starts_at=as_utc(row.starts_at),
        ends_at=as_utc(row.ends_at),
        created_by=row.created_by,
        comment=row.comment,
        updated_at=as_utc(row.updated_at),
    )
