"""Leasing deliveries and recording what their attempts came to.

Claims take a lease rather than holding a transaction open during the send: the send may take
seconds, and a worker that dies mid-send frees its rows when the lease runs out. Only the
holder of an attempt records its outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from services.alerts.senders.base import Receipt
from services.alerts.tables import deliveries
from shared.db.engine import database_now, is_postgres

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"
SILENCED = "silenced"  # a silence muted it: never sent


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease on, for its attempt number `attempts`."""

    dedup_key: str
    receiver: str
    channel: str
    notice: str  # services/alerts/notices.py: the alert, or a notice about it
    target: str | None  # the receiver's channel or address; None: the account's CSM's
    trigger_id: str
    account_id: str
    payload: str
    attempts: int
    created_at: datetime
    # The previous attempt ended without an outcome (its worker died or lost the database
    # after sending, or before): it may have reached the receiver.
    in_doubt: bool = False
    note: str | None = None  # what the notice adds (an escalation's reason...)
    group_key: str | None = None  # its group (grouping.py), sent together


def _free(now: datetime) -> ColumnElement[bool]:
    """Pending, and nobody holds its lease."""
    c = deliveries.c
    return (c.status == PENDING) & (c.lease_until.is_(None) | (c.lease_until <= now))


def _claimable(now: datetime) -> ColumnElement[bool]:
    return _free(now) & (deliveries.c.next_attempt_at <= now)


async def claim_due(
    engine: AsyncEngine,
    *,
    lease: timedelta,
    limit: int,
    channel: str,
    now: datetime | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due rows of `channel` to this worker for `lease`, and count the
    attempt.

    Time is the database's (`now` only for tests that move it): instances whose clocks differ
    by more than a lease would otherwise each find the other's lease run out, and both send.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several instances claim at once without
    waiting for or double-claiming each other's rows (a row whose claim committed meanwhile
    is re-checked against the condition and dropped). SQLite runs one writer at a time, so the
    conditional UPDATE alone is enough there.

    A row still holding a lease was never finished by its last holder: the claim marks it
    in_doubt, which stays on the row (a delivered row with in_doubt may have arrived twice).
    """
    async with engine.begin() as conn:
        at = now or await database_now(conn)
        due = _claimable(at) & (deliveries.c.channel == channel)
        rows = (await conn.execute(_claim(due, at + lease, limit, engine))).all()
    return [Claimed(*row) for row in rows]


async def claim_group(
    engine: AsyncEngine,
    group_key: str,
    channel: str,
    *,
    lease: timedelta,
    limit: int = 200,
    now: datetime | None = None,
) -> list[Claimed]:
    """Lease the other pending alerts of a group on a channel, due or not: they go in the
    message of the group's row just claimed (grouping.py)."""
    c = deliveries.c
    async with engine.begin() as conn:
        at = now or await database_now(conn)
        mates = _free(at) & (c.group_key == group_key) & (c.channel == channel)
        rows = (await conn.execute(_claim(mates, at + lease, limit, engine))).all()
    return [Claimed(*row) for row in rows]


def _claim(
    which: ColumnElement[bool], lease_until: datetime, limit: int, engine: AsyncEngine
) -> Any:
    c = deliveries.c
    due = (
        select(c.dedup_key, c.receiver, c.channel, c.notice)
        .where(which)
        .order_by(c.next_attempt_at)
        .limit(limit)
    )
    if is_postgres(engine):
        due = due.with_for_update(skip_locked=True)
    # A CTE runs once; as a plain subquery PostgreSQL may scan it again for the join, past
    # the rows this very statement has just leased, and claim more than `limit`.
    chosen = due.cte("due")
    return (
        update(deliveries)
        .where(tuple_(c.dedup_key, c.receiver, c.channel, c.notice).in_(select(chosen)) & which)
        .values(
            lease_until=lease_until, attempts=c.attempts + 1, in_doubt=c.lease_until.is_not(None)
        )
        .returning(
            c.dedup_key,
            c.receiver,
            c.channel,
            c.notice,
            c.target,
            c.trigger_id,
            c.account_id,
            c.payload,
            c.attempts,
            c.created_at,
            c.in_doubt,
            c.note,
            c.group_key,
        )
    )


Outcome = dict[str, Any]  # the columns an attempt's outcome sets


def delivered(recipient: str, now: datetime, receipt: Receipt | None = None) -> Outcome:
    """Sent; `receipt`: where the receiver keeps the message (Slack), if it says."""
    return {
        "status": DELIVERED,
        "recipient": recipient,
        "delivered_at": now,
        "last_error": None,
        "message_ts": receipt.ts if receipt else None,
        "message_channel": receipt.conversation if receipt else None,
    }


def retry(recipient: str | None, error: str, at: datetime) -> Outcome:
    """Back to pending, to be claimed again at `at`."""
    return {"recipient": recipient, "last_error": error, "next_attempt_at": at}


def final(status: str, recipient: str | None, error: str) -> Outcome:
    """An end without a send: `failed` or `skipped`, with the reason."""
    return {"status": status, "recipient": recipient, "last_error": error}


async def finish(engine: AsyncEngine, outcomes: Sequence[tuple[Claimed, Outcome]]) -> list[bool]:
    """Store attempts' outcomes, all in one transaction; for each, whether it counted.

    Only the holder of an attempt may record its outcome: if the lease ran out and another
    worker claimed the row again (attempts moved on), a late answer changes nothing.
    """
    c = deliveries.c
    counted = []
    async with engine.begin() as conn:
        if is_postgres(conn):
            # Not waiting for the WAL flush shortens the moment in which a crash of this
            # process resends an email the server has (a commit returns in a round trip, and
            # a committed outcome survives this process). PostgreSQL crashing itself may lose
            # the last outcomes: those deliveries are tried again, never lost.
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
        for row, values in outcomes:
            result = await conn.execute(
                update(deliveries)
                .where(
                    (c.dedup_key == row.dedup_key)
                    & (c.receiver == row.receiver)
                    & (c.channel == row.channel)
                    & (c.notice == row.notice)
                    & (c.attempts == row.attempts)
                    & (c.status == PENDING)
                )
                .values(lease_until=None, **values)
            )
            counted.append(result.rowcount == 1)
    return counted
