"""deliveries: due by channel, and in doubt

Each channel claims its own due rows (it has its own bound on sends in flight), so a backlog
on one channel must not make another's claim scan past it. in_doubt marks a delivery whose
attempt followed one that ended without an outcome.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("in_doubt", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "channel", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.drop_column("deliveries", "in_doubt")
