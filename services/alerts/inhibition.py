"""Which alerts are firing, per account, as the trigger events said (a firing event, then its
resolved one): what inhibit_rules mute other alerts of the same account with. Kept in the
alerts domain's alert_states table, written in the transaction that consumes the events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerts.routing.matchers import Labels
from services.alerts.routing.plan import labels_of
from services.alerts.tables import alert_states
from shared.contracts.triggers import TriggerEvent
from shared.db.bulk import insert

Firing = dict[str, list[Labels]]  # account_id -> the labels of its firing alerts


async def record(conn: AsyncConnection, events: Iterable[TriggerEvent], now: datetime) -> None:
    """Each event's alert is firing or resolved now (the last event of a key in a batch wins:
    one account's events are read in the order scoring sent them)."""
    rows = {
        event.dedup_key: {
            "dedup_key": event.dedup_key,
            "account_id": event.account_id,
            "labels": orjson.dumps(labels_of(event)).decode(),
            "firing": event.status == "firing",
            "updated_at": now,
        }
        for event in events
    }
    if not rows:
        return
    statement = insert(conn, alert_states)
    statement = statement.on_conflict_do_update(
        index_elements=["dedup_key"],
        set_={
            "labels": statement.excluded.labels,
            "firing": statement.excluded.firing,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await conn.execute(statement, list(rows.values()))


async def firing(conn: AsyncConnection, account_ids: Collection[str]) -> Firing:
    """The firing alerts of these accounts, by account."""
    found: Firing = defaultdict(list)
    if not account_ids:
        return found
    c = alert_states.c
    rows = await conn.execute(
        select(c.account_id, c.labels).where(c.firing & c.account_id.in_(sorted(account_ids)))
    )
    for account_id, labels in rows:
        found[account_id].append(orjson.loads(labels))
    return found
