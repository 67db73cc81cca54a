"""accounts.state packed (services/scoring/accounts/packing.py), with its health inside

Before, accounts.state was the state's plain JSON, remembering whole event ids, and its
health was read from accounts.health beside it; now it is one self-contained packed document
remembering 8-byte keys of the ids (state.signal_key), which scoring loads without the health
column.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from services.scoring.accounts.packing import pack, unpack
from services.scoring.accounts.state import signal_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHUNK = 1000
_accounts = sa.table(
    "accounts",
    sa.column("account_id", sa.String),
    sa.column("state", sa.LargeBinary),
    sa.column("health", sa.Text),
)


def upgrade() -> None:
    _rewrite(lambda state, health: state[:1] == b"{", _packed)


def downgrade() -> None:
    _rewrite(lambda state, health: state[:1] != b"{", _plain)


def _packed(state: bytes, health: str) -> bytes:
    document = orjson.loads(state)
    stored = orjson.loads(health)
    document["health"] = {k: stored[k] for k in ("score", "band", "components")}
    document["seen"] = [signal_key(signal_id) for signal_id in document["seen"]]
    document["health_stale"] = False  # health was stored only once brought up to date
    return pack(document["now"], orjson.dumps(document))


def _plain(state: bytes, health: str) -> bytes:
    """The ids themselves cannot come back from their keys: a downgraded account forgets
    which events it has seen (a redelivery of one of them would count again)."""
    document = orjson.loads(unpack(state))
    for key in ("health", "health_stale", "indexes"):
        document.pop(key, None)
    document["seen"] = []
    return orjson.dumps(document)


def _rewrite(
    needed: Callable[[bytes, str], bool], rewritten: Callable[[bytes, str], bytes]
) -> None:
    bind = op.get_bind()
    statement = (
        sa.update(_accounts)
        .where(_accounts.c.account_id == sa.bindparam("id"))
        .values(state=sa.bindparam("new_state"))
    )
    for rows in _chunks(bind):
        changes = [
            {"id": account_id, "new_state": rewritten(state, health)}
            for account_id, state, health in rows
            if needed(state, health)
        ]
        if changes:
            bind.execute(statement, changes)


def _chunks(bind: Any) -> Iterator[list[Any]]:
    """Every account, a chunk at a time, in account_id order (keyset pagination)."""
    c, after = _accounts.c, ""
    while True:
        query = sa.select(c.account_id, c.state, c.health).where(c.account_id > after)
        rows = bind.execute(query.order_by(c.account_id).limit(CHUNK)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].account_id
