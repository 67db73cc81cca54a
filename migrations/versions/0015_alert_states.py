"""alert_states: each alert's last status (firing or resolved) and labels, for inhibit_rules

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("dedup_key", sa.String(700), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_states_firing", "alert_states", ["account_id", "firing"])


def downgrade() -> None:
    op.drop_index("ix_alert_states_firing", "alert_states")
    op.drop_table("alert_states")
