"""The scoring service's tables (SQLAlchemy Core): accounts and their partition layout, their
health history, the triggers outbox, API tokens and the pages' sessions. The top-level
migrations package creates them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# One row per account: the compact state scoring works from (loaded per partition on
# assignment), with its health and the columns the API lists and sorts by. Usage and
# stakeholder views are derived from `state` when read: cheaper than on every flush.
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(200), primary_key=True),
    Column("partition", Integer, nullable=False),
    Column("name", String(500)),
    Column("score", Integer),  # null: no component has data yet
    Column("band", String(10), nullable=False),
    Column("profile", Text),
    Column("health", Text, nullable=False),
    Column("recent_records", Text, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_accounts_partition", "partition"),
    Index("ix_accounts_worst_first", "score", "account_id"),
    Index("ix_accounts_band", "band", "score", "account_id"),
)

# The partition count of the signals topic that accounts.partition follows: one row (id 1).
# Scoring consumes only under this count (accounts/layout.py).
accounts_layout = Table(
    "accounts_layout",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partitions", Integer, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# Each account's health over time: a point per change of score or band, with its cause
# (health/history.py). A point is a few numbers, not a copy of the account; kept 400 days.
health_history = Table(
    "health_history",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("score", SmallInteger),
    Column("band", String(10), nullable=False),
    Column("components", Text, nullable=False),
    Column("cause_kind", String(10), nullable=False),
    Column("cause", String(300)),
    Index("ix_health_history_account", "account_id", "at", "id"),
    Index("ix_health_history_at", "at"),
)

# Fired triggers, once per dedup_key, and their resolution; what is unpublished is the outbox
# relayed to cs.triggers.
triggers = Table(
    "triggers",
    metadata,
    Column("trigger_id", String(64), primary_key=True),
    Column("dedup_key", String(700), nullable=False, unique=True),
    Column("type", String(50), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("payload", Text, nullable=False),
    Column("published", Boolean, nullable=False, default=False),
    # Set once, when the episode ends: the resolved event, and whether it is relayed.
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_payload", Text),
    Column("resolved_published", Boolean),
    Index("ix_triggers_account", "account_id", "fired_at"),
    Index("ix_triggers_type", "type", "fired_at"),
    Index("ix_triggers_fired", "fired_at"),
    Index("ix_triggers_unpublished", "published"),
    Index("ix_triggers_resolved_unpublished", "resolved_published"),
)

# API bearer tokens (services/scoring/tokens.py): only a SHA-256 of each token is kept. A name
# belongs to one unrevoked token at a time; revoked rows stay listed.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index(
        "ux_api_tokens_active_name",
        "name",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
        sqlite_where=text("revoked_at IS NULL"),
    ),
)


# The pages' sessions (services/scoring/ui/sessions.py): a cookie stands for an API token for a
# while. Only hashes of the cookie are kept; a session ends with its token's revocation.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_ui_sessions_expires", "expires_at"),
)

# One-time sign-in links printed by `pulse token link`: each signs in once, before it expires.
ui_sign_in_links = Table(
    "ui_sign_in_links",
    metadata,
    Column("link_hash", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)
