"""accounts.score may be null: an account named only by a record has no score yet

Health v2 leaves out every component without data; an account with none has score null and
band "none" (docs/contract.md, "Health") instead of v1's 100 from support alone.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("score", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE accounts SET score = 100 WHERE score IS NULL")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("score", existing_type=sa.Integer(), nullable=False)
