"""acknowledgements: who acknowledged an alert (a trigger), and when; the first one is kept

And the deliveries' indexes for GET /v1/alerts, newest first, of all accounts or of one.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("trigger_id", sa.String(64), primary_key=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deliveries_created", "deliveries", ["created_at"])
    op.create_index("ix_deliveries_account", "deliveries", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_account", "deliveries")
    op.drop_index("ix_deliveries_created", "deliveries")
    op.drop_table("acknowledgements")
