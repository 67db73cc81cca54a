"""consumer_offsets.last_record: the fingerprint of the record before each stored offset

With it a consumer can tell, on assignment, whether the broker's log is still the one its
offset was read from (shared/logcheck.py). Offsets stored before it have none and are checked
by the presence of that record alone.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consumer_offsets", sa.Column("last_record", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("consumer_offsets", "last_record")
