"""dead_letters: an outbox for the dead letters of scoring and alerts

Written in the same transaction as a batch's effects and offsets, relayed to the dead-letter
topic after it commits: a batch tried again no longer sends its dead letters twice.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(50), nullable=False),
        sa.Column("source_topic", sa.String(300), nullable=False),
        sa.Column("topic", sa.String(300), nullable=False),
        sa.Column("key", sa.LargeBinary()),
        sa.Column("value", sa.LargeBinary()),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dead_letters_unpublished", "dead_letters", ["published"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_unpublished", table_name="dead_letters")
    op.drop_table("dead_letters")
