"""health_history: each account's health over time, a point per change of score or band

A point is the score, the band, each component's score and the cause (a signal, the tick, a
scorecard change): a few numbers per change, not a copy of the account. Kept 400 days.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.SmallInteger()),
        sa.Column("band", sa.String(10), nullable=False),
        sa.Column("components", sa.Text(), nullable=False),
        sa.Column("cause_kind", sa.String(10), nullable=False),
        sa.Column("cause", sa.String(300)),
    )
    op.create_index("ix_health_history_account", "health_history", ["account_id", "at", "id"])
    op.create_index("ix_health_history_at", "health_history", ["at"])


def downgrade() -> None:
    op.drop_table("health_history")
