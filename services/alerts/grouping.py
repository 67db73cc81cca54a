"""Grouping, as Alertmanager's group_by, group_wait and group_interval.

The alerts a route sends to one receiver whose group_by labels agree form a group, and each
channel sends what is due of a group in one message. The first alert of a group waits
group_wait for others to join it; an alert joining a group that has had its message waits
until group_interval after that message; one joining a group whose message is still to come
goes with it. These timers are the rows' due times (next_attempt_at), set here when the rows
are made, so they survive restarts and any instance keeps them. The worker that claims one
row of a group gathers the group's other pending rows (leases.claim_group).

A group_by naming dedup_key (the default) or "..." makes every alert a group of its own: one
message per trigger, after group_wait. Webhooks and the console take one event per alert
whatever the grouping: a webhook's body is the trigger event (contract v2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerts.routing.matchers import Labels
from services.alerts.routing.tree import Destination, group_key
from services.alerts.tables import deliveries
from shared.clock import as_utc

GROUPED_CHANNELS = ("slack", "email")


def key_of(destination: Destination, labels: Labels, channel: str) -> str | None:
    """The group an alert joins at this destination on this channel; None: a group of its
    own."""
    names = destination.group_by
    if "dedup_key" in names or "..." in names or channel not in GROUPED_CHANNELS:
        return None
    return group_key(destination, labels)


async def schedule(
    conn: AsyncConnection,
    rows: Iterable[dict[str, Any]],
    intervals: dict[str, float],
    now: datetime,
) -> None:
    """Set the due time of each new row of a group (its group_key set, its next_attempt_at
    now + group_wait) from the group's state per channel: the message still to come, or the
    last one sent and the group's interval (`intervals`, by group_key)."""
    grouped = [row for row in rows if row["group_key"] is not None]
    if not grouped:
        return
    state = await _groups(conn, {row["group_key"] for row in grouped})
    for row in grouped:
        where = (row["group_key"], row["channel"])
        coming, last_sent = state.get(where, (None, None))
        if coming is not None:
            row["next_attempt_at"] = max(now, coming)
        elif last_sent is not None:
            interval = timedelta(seconds=intervals[row["group_key"]])
            row["next_attempt_at"] = max(now, last_sent + interval)
        # A group's later rows in this batch join its first.
        state[where] = (row["next_attempt_at"], last_sent)


async def _groups(
    conn: AsyncConnection, keys: set[str]
) -> dict[tuple[str, str], tuple[datetime | None, datetime | None]]:
    """Per (group_key, channel): when its pending message goes (of rows not being sent), and
    when its last message went."""
    c = deliveries.c
    waiting = (c.status == "pending") & c.lease_until.is_(None)
    rows = await conn.execute(
        select(
            c.group_key,
            c.channel,
            func.min(case((waiting, c.next_attempt_at))),
            func.max(c.delivered_at),
        )
        .where(c.group_key.in_(sorted(keys)))
        .group_by(c.group_key, c.channel)
    )
    return {
        (key, channel): (_utc(coming), _utc(last_sent)) for key, channel, coming, last_sent in rows
    }


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)
