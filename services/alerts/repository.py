"""The `deliveries` table: one row per (dedup_key, receiver, channel, notice), the unit of
exactly-once alerting.

A row is created `pending` when its trigger is consumed (in the transaction that stores the
consumer offsets), or `silenced`; claimed by one worker under a lease (leases.py), then ends
`delivered`, `failed` (a permanent error, or too many attempts), `skipped` (nobody to send it
to, or no longer due) or `silenced`. A failed attempt puts it back to `pending` with a later
next_attempt_at.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerts import escalations, grouping
from services.alerts.leases import DELIVERED, PENDING, SILENCED, SKIPPED, Claimed
from services.alerts.notices import ALERT, RESOLVED
from services.alerts.routing.loading import BUILT_IN_ROUTING
from services.alerts.routing.matchers import Labels
from services.alerts.routing.model import RoutingFile
from services.alerts.routing.plan import deliveries_of, escalations_of, labels_of
from services.alerts.routing.tree import inhibited
from services.alerts.silences import Silence, muting
from services.alerts.tables import deliveries
from shared.contracts.triggers import TriggerEvent
from shared.db.bulk import insert

# Channels that tell a receiver an episode ended: Slack in the alert's thread, the webhook
# with the resolved event, the console; email does not (docs/alerting.md).
RESOLVED_CHANNELS = ("slack", "webhook", "console")


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
    alert's escalations (escalations.py), due later. Each waits as its route's grouping says
    (grouping.py)."""
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    intervals: dict[str, float] = {}
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
        found: list[dict[str, Any]] = []
        for d in deliveries_of(routing, labels, channels):
            found.append(
                {
                    **alert,
                    "receiver": d.receiver,
                    "channel": d.channel,
                    "target": d.target,
                    "group_key": d.group_key,
                    "next_attempt_at": now + timedelta(seconds=d.group_wait),
                }
            )
            if d.group_key is not None:
                intervals[d.group_key] = d.group_interval
        found += [
            escalations.row_of(escalation, alert, now)
            for escalation in escalations_of(routing, labels, channels)
        ]
        for row in found:
            rows.setdefault((row["dedup_key"], row["receiver"], row["channel"], row["notice"]), row)
    if rows:
        new = await _absent(conn, list(rows.values()))
        await grouping.schedule(conn, new, intervals, now)
        await _insert_new(conn, new)


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


async def _absent(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows not stored yet: a redelivered trigger's rows must not move their group's
    timers (nor be inserted, which the key prevents anyway)."""
    if not any(row["group_key"] for row in rows):
        return rows
    c = deliveries.c
    keys = [(r["dedup_key"], r["receiver"], r["channel"], r["notice"]) for r in rows]
    stored = set(
        (
            await conn.execute(
                select(c.dedup_key, c.receiver, c.channel, c.notice).where(
                    tuple_(c.dedup_key, c.receiver, c.channel, c.notice).in_(keys)
                )
            )
        ).all()
    )
    return [row for row, key in zip(rows, keys, strict=True) if key not in stored]


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


async def count_pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == PENDING)
        )
    return int(count or 0)
