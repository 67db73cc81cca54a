"""ui_sessions and ui_sign_in_links: the CSM's pages sign in with an API token once

- ui_sessions: a session cookie (only its SHA-256 kept) standing for a token until it expires,
  with the CSRF token its forms carry;
- ui_sign_in_links: one-time sign-in links (`pulse token link`), each used at most once.

Revision ID: 0020
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ui_sessions_expires", "ui_sessions", ["expires_at"])
    op.create_table(
        "ui_sign_in_links",
        sa.Column("link_hash", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("ui_sign_in_links")
    op.drop_index("ix_ui_sessions_expires", "ui_sessions")
    op.drop_table("ui_sessions")
