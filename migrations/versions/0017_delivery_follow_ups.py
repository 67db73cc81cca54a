"""deliveries: escalations, message updates and groups

- note: what a follow-up notice adds to its alert (an escalation's reason, who acknowledged);
- message_channel: the Slack conversation the alert landed in, which chat.update needs (a
  user's alerts land in a DM whose id only the post's answer gives);
- group_key: the alerts of a route's group (group_by) are sent in one message; rows of one
  group and channel are gathered by it;
- an index on trigger_id: acknowledgements find a trigger's deliveries by it.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("note", sa.Text()))
        batch.add_column(sa.Column("message_channel", sa.String(40)))
        batch.add_column(sa.Column("group_key", sa.Text()))
    op.create_index("ix_deliveries_trigger", "deliveries", ["trigger_id"])
    op.create_index("ix_deliveries_group", "deliveries", ["group_key", "channel", "status"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_group", "deliveries")
    op.drop_index("ix_deliveries_trigger", "deliveries")
    op.execute("DELETE FROM deliveries WHERE notice NOT IN ('alert', 'resolved')")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("group_key")
        batch.drop_column("message_channel")
        batch.drop_column("note")
