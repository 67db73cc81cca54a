"""deliveries.notice and .message_ts: a resolved notice is a delivery of its own

An alert's resolved event gives at most one notice per (dedup_key, receiver, channel): a row
with notice "resolved" beside the alert's ("alert", every row before this revision). Slack's
notice is a reply in the alert's thread: message_ts keeps the ts Slack gave the alert.

Revision ID: 0016
Revises: 0015
"""

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with _quiet_copy(), op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("notice", sa.String(10), nullable=False, server_default="alert"))
        batch.add_column(sa.Column("message_ts", sa.String(40)))
        _key(batch, ["dedup_key", "receiver", "channel", "notice"])


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE notice <> 'alert'")
    with _quiet_copy(), op.batch_alter_table("deliveries") as batch:
        _key(batch, ["dedup_key", "receiver", "channel"])
        batch.drop_column("message_ts")
        batch.drop_column("notice")


def _key(batch: Any, columns: list[str]) -> None:
    # SQLite's key has no name to drop: the batch copies the table with the new one.
    if op.get_bind().dialect.name != "sqlite":
        batch.drop_constraint("deliveries_pkey", type_="primary")
    batch.create_primary_key("deliveries_pkey", columns)


@contextlib.contextmanager
def _quiet_copy() -> Iterator[None]:
    """On SQLite, SQLAlchemy warns that the copy's key differs from the reflected table's:
    that is the change asked for."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_deliveries' specifies columns")
        yield
