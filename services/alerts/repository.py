"""The `deliveries` table: one row per (dedup_key, receiver, channel), the unit of exactly-once
alerting.

A row is created `pending` when its trigger is consumed (in the transaction that stores the
consumer offsets), claimed by one worker under a lease, then ends `delivered`, `failed` (a
permanent error, or too many attempts) or `skipped` (nobody to send it to). A failed attempt
puts it back to `pending` with a later next_attempt_at.

Claims take a lease rather than holding a transaction open during the send: the send may take
seconds, and a worker that dies mid-send frees its rows when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from services.alerts import escalations
from services.alerts.notices import ALERT, RESOLVED
from services.alerts.routing.loading import BUILT_IN_ROUTING
from services.alerts.routing.matchers import Labels
from services.alerts.routing.model import RoutingFile
from services.alerts.routing.plan import deliveries_of, escalations_of, labels_of
from services.alerts.routing.tree import inhibited
from services.alerts.senders.base import Receipt
from services.alerts.silences import Silence, muting
from services.alerts.tables import deliveries
from shared.contracts.triggers import TriggerEvent
from shared.db.bulk import insert
from shared.db.engine import database_now, is_postgres

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"
SILENCED = "silenced"  # a silence muted it: never sent
# Channels that tell a receiver an episode ended: Slack in the alert's thread, the webhook
# with the resolved event, the console; email does not (docs/alerting.md).
RESOLVED_CHANNELS = ("slack", "webhook", "console")


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


async def add(
    conn: AsyncConnection,
    triggers: Iterable[TriggerEvent],
    channels: Collection[str],
    now: datetime,
    routing: RoutingFile = BUILT_IN_ROUTING,
    in_force: Sequence[Silence] = (),
    firing: Mapping[str, list[Labels]] | None = None,
) -> None:
    """A pending row per (trigger, receiver, channel) its routes give, `silenced` while a
    silence in force or an inhibit rule (with the `firing` alerts, by account) mutes the
    trigger; rows that exist already are left alone, which is what makes a redelivered or
    duplicated trigger (same dedup_key) alert each receiver only once. With them, the
    alert's escalations (escalations.py), due later."""
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for trigger in triggers:
        labels = labels_of(trigger)
        muted = why_muted(labels, routing, in_force, (firing or {}), now)
        alert = {
            "dedup_key": trigger.dedup_key,
            "notice": ALERT,
            "trigger_id": trigger.trigger_id,
            "account_id": trigger.account_id,
            "payload": trigger.to_json().decode(),
            "status": PENDING if muted is None else SILENCED,
            "last_error": muted,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "note": None,
            "group_key": None,
        }
        found: list[dict[str, Any]] = [
            {**alert, "receiver": d.receiver, "channel": d.channel, "target": d.target}
            for d in deliveries_of(routing, labels, channels)
        ]
        found += [
            escalations.row_of(escalation, alert, now)
            for escalation in escalations_of(routing, labels, channels)
        ]
        for row in found:
            rows.setdefault((row["dedup_key"], row["receiver"], row["channel"], row["notice"]), row)
    if rows:
        await _insert_new(conn, list(rows.values()))


async def add_resolved(
    conn: AsyncConnection, events: Iterable[TriggerEvent], now: datetime
) -> None:
    """A pending resolved notice per alert delivery of each event's trigger that went, or
    still may go, out on a channel that tells of an episode's end (RESOLVED_CHANNELS); at
    most one per (dedup_key, receiver, channel), whatever the redeliveries."""
    ended = {event.dedup_key: event for event in events}
    if not ended:
        return
    c = deliveries.c
    alerts = await conn.execute(
        select(c.dedup_key, c.receiver, c.channel, c.target, c.account_id).where(
            c.dedup_key.in_(sorted(ended))
            & (c.notice == ALERT)
            & c.channel.in_(RESOLVED_CHANNELS)
            & c.status.in_((PENDING, DELIVERED))
        )
    )
    rows = [
        {
            "dedup_key": key,
            "receiver": receiver,
            "channel": channel,
            "notice": RESOLVED,
            "target": target,
            "trigger_id": ended[key].trigger_id,
            "account_id": account_id,
            "payload": ended[key].to_json().decode(),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "note": None,
            "group_key": None,
        }
        for key, receiver, channel, target, account_id in alerts
    ]
    if rows:
        await _insert_new(conn, rows)


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    statement = insert(conn, deliveries).on_conflict_do_nothing(
        index_elements=["dedup_key", "receiver", "channel", "notice"]
    )
    await conn.execute(statement, rows)


@dataclass(frozen=True)
class SentAlert:
    status: str
    message_ts: str | None  # where the receiver keeps it (Slack)
    message_channel: str | None


async def alert_sent(engine: AsyncEngine, row: Claimed) -> SentAlert | None:
    """The alert a follow-up notice (FOLLOW_UPS) follows, as its delivery stands (None: no
    alert to this receiver on this channel)."""
    c = deliveries.c
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                select(c.status, c.message_ts, c.message_channel).where(
                    (c.dedup_key == row.dedup_key)
                    & (c.receiver == row.receiver)
                    & (c.channel == row.channel)
                    & (c.notice == ALERT)
                )
            )
        ).first()
    return SentAlert(*found) if found else None


def why_muted(
    labels: Labels,
    routing: RoutingFile,
    in_force: Sequence[Silence],
    firing: Mapping[str, list[Labels]],
    now: datetime,
) -> str | None:
    """Why a trigger with these labels (labels_of) is not to be sent (a silence, or an inhibit
    rule and the alert firing that mutes it), or None."""
    if silence := muting(in_force, labels, now):
        return f"silenced by {silence.silence_id} ({silence.created_by}: {silence.comment})"
    rules = routing.inhibit_rules
    if rules and (source := inhibited(rules, labels, firing.get(labels["account_id"], []))):
        return f"inhibited by {source.get('dedup_key')}, firing"
    return None


def _claimable(now: datetime) -> ColumnElement[bool]:
    c = deliveries.c
    return (
        (c.status == PENDING)
        & (c.next_attempt_at <= now)
        & (c.lease_until.is_(None) | (c.lease_until <= now))
    )


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
        rows = (await conn.execute(_claim(at, at + lease, limit, channel, engine))).all()
    return [Claimed(*row) for row in rows]


def _claim(
    now: datetime, lease_until: datetime, limit: int, channel: str, engine: AsyncEngine
) -> Any:
    c = deliveries.c
    due = (
        select(c.dedup_key, c.receiver, c.channel, c.notice)
        .where(_claimable(now) & (c.channel == channel))
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
        .where(
            tuple_(c.dedup_key, c.receiver, c.channel, c.notice).in_(select(chosen))
            & _claimable(now)
        )
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
        )
    )


async def pending_elsewhere(engine: AsyncEngine, channels: Sequence[str]) -> dict[str, int]:
    """Pending rows of channels other than `channels`, by channel: work for instances that
    send those channels (or for `pulse deliveries skip`), never skipped by this one."""
    c = deliveries.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(c.channel, func.count())
            .where((c.status == PENDING) & c.channel.not_in(channels))
            .group_by(c.channel)
        )
        return {channel: int(count) for channel, count in rows}


async def skip_channel(engine: AsyncEngine, channel: str, reason: str) -> int:
    """End every pending row of `channel` as skipped, with `reason` (an operator's decision:
    the channel is gone for good). How many were skipped."""
    c = deliveries.c
    async with engine.begin() as conn:
        result = await conn.execute(
            update(deliveries)
            .where((c.status == PENDING) & (c.channel == channel))
            .values(status=SKIPPED, lease_until=None, last_error=reason)
        )
    return int(result.rowcount)


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


async def count_pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == PENDING)
        )
    return int(count or 0)
