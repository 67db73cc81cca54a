"""accounts_layout: the partition count of the signals topic that accounts.partition follows

Scoring records it at its first assignment and refuses to consume under another count, which
would start moved accounts blank over their history; `pulse accounts repartition` moves the
accounts to a new count and records it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts_layout",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts_layout")
