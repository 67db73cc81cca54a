"""silences: Alertmanager's silences, set through the API, applied by the alerts service

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("silence_id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_silences_ends", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_silences_ends", "silences")
    op.drop_table("silences")
