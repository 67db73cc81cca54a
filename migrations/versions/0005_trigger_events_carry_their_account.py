"""trigger events carry their account: backfill the ones still waiting

From this revision a trigger event carries the account as recorded when it fired, and alerts
delivers from the event alone instead of reading scoring's accounts table. Events stored before
it and still waiting (unpublished triggers, pending deliveries) get the account as it is
recorded now, which is what alerts would have read for them; without it their email would be
skipped for want of a CSM. Sent and delivered ones are history and stay as they were.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHUNK = 1000
# The account fields a trigger event carries (docs/contract.md, "trigger events").
ACCOUNT_FIELDS = (
    "name",
    "tier",
    "segment",
    "arr",
    "plan",
    "renewal_date",
    "labels",
    "crm_url",
    "csm",
)

_accounts = sa.table("accounts", sa.column("account_id", sa.String), sa.column("profile", sa.Text))
_triggers = sa.table(
    "triggers",
    sa.column("trigger_id", sa.String),
    sa.column("account_id", sa.String),
    sa.column("payload", sa.Text),
    sa.column("published", sa.Boolean),
)
_deliveries = sa.table(
    "deliveries",
    sa.column("dedup_key", sa.String),
    sa.column("channel", sa.String),
    sa.column("account_id", sa.String),
    sa.column("payload", sa.Text),
    sa.column("status", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    waiting_triggers = sa.select(
        _triggers.c.trigger_id, _triggers.c.account_id, _triggers.c.payload
    ).where(_triggers.c.published.is_(False))
    for rows in _chunks(bind, waiting_triggers, _triggers.c.trigger_id):
        _backfill(bind, rows, _triggers, [_triggers.c.trigger_id])
    waiting_deliveries = sa.select(
        _deliveries.c.dedup_key,
        _deliveries.c.channel,
        _deliveries.c.account_id,
        _deliveries.c.payload,
    ).where(_deliveries.c.status == "pending")
    for rows in _chunks(bind, waiting_deliveries, _deliveries.c.dedup_key, _deliveries.c.channel):
        _backfill(bind, rows, _deliveries, [_deliveries.c.dedup_key, _deliveries.c.channel])


def downgrade() -> None:
    """Nothing to undo: the code before this revision ignores the fields it added."""


def _backfill(bind: Any, rows: list[Any], table: Any, keys: list[Any]) -> None:
    profiles = _profiles(bind, {row.account_id for row in rows})
    statement = (
        sa.update(table)
        .where(sa.and_(*(key == sa.bindparam(f"key_{key.name}") for key in keys)))
        .values(payload=sa.bindparam("new_payload"))
    )
    changes = []
    for row in rows:
        event = orjson.loads(row.payload)
        if "account" in event:
            continue
        event["account"] = _account(profiles.get(row.account_id))
        event.setdefault("status", "firing")
        change = {f"key_{key.name}": getattr(row, key.name) for key in keys}
        changes.append({**change, "new_payload": orjson.dumps(event).decode()})
    if changes:
        bind.execute(statement, changes)


def _profiles(bind: Any, account_ids: set[str]) -> dict[str, str | None]:
    query = sa.select(_accounts.c.account_id, _accounts.c.profile).where(
        _accounts.c.account_id.in_(sorted(account_ids))
    )
    return dict(bind.execute(query).all())


def _account(profile: str | None) -> dict[str, Any]:
    recorded = orjson.loads(profile) if profile else {}
    return {name: recorded.get(name) for name in ACCOUNT_FIELDS}


def _chunks(bind: Any, query: Any, *order: Any) -> Iterator[list[Any]]:
    """The query's rows a chunk at a time, in key order (keyset pagination)."""
    after: tuple[Any, ...] | None = None
    while True:
        page = query
        if after is not None:
            page = page.where(sa.tuple_(*order) > sa.tuple_(*after))
        rows = bind.execute(page.order_by(*order).limit(CHUNK)).all()
        if not rows:
            return
        yield rows
        after = tuple(getattr(rows[-1], column.name) for column in order)
