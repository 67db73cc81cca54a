"""deliveries.receiver and .target: one notification per (dedup_key, receiver, channel)

With a routing file (PULSE_ROUTES) a trigger can go to several receivers on one channel (the
account's CSM and a team channel, both in Slack): each is a delivery of its own. `target` is the
receiver's fixed channel or address; none means the account's CSM, as every row before this
revision (receiver "csm", the built-in routing's one receiver).

Revision ID: 0012
Revises: 0011
"""

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with _quiet_copy(), op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("receiver", sa.String(200), nullable=False, server_default="csm")
        )
        batch.add_column(sa.Column("target", sa.String(320)))
        _key(batch, ["dedup_key", "receiver", "channel"])


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE receiver <> 'csm'")
    with _quiet_copy(), op.batch_alter_table("deliveries") as batch:
        _key(batch, ["dedup_key", "channel"])
        batch.drop_column("target")
        batch.drop_column("receiver")


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
