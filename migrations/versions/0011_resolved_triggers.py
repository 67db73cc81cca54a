"""triggers.resolved_*: an episode that ends goes out again as resolved, through the outbox

The resolved event (docs/contract.md, "Trigger events") has the firing's trigger_id and
dedup_key, so it cannot be a row of its own: it is stored on the firing's row, once (a row
already resolved is never resolved again), and relayed like the firing.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("resolved_payload", sa.Text()))
        batch.add_column(sa.Column("resolved_published", sa.Boolean()))
    op.create_index("ix_triggers_resolved_unpublished", "triggers", ["resolved_published"])


def downgrade() -> None:
    op.drop_index("ix_triggers_resolved_unpublished", "triggers")
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("resolved_published")
        batch.drop_column("resolved_payload")
        batch.drop_column("resolved_at")
