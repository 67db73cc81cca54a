"""The database schema (SQLAlchemy Core). Migrations in shared/db/migrations create it."""

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
    String,
    Table,
    Text,
    false,
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
    Column("score", Integer, nullable=False),
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

# Where each consumer group stands, stored in the same transaction as the effects of the
# consumed records: the source of truth for exactly-once effects.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("group_id", String(200), primary_key=True),
    Column("topic", String(300), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# Fired triggers, once per dedup_key; unpublished rows are the outbox relayed to cs.triggers.
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
    Index("ix_triggers_account", "account_id", "fired_at"),
    Index("ix_triggers_type", "type", "fired_at"),
    Index("ix_triggers_fired", "fired_at"),
    Index("ix_triggers_unpublished", "published"),
)

# One row per (dedup_key, channel): makes each notification happen once across restarts and
# instances, and carries the retry schedule of a failing one.
deliveries = Table(
    "deliveries",
    metadata,
    Column("dedup_key", String(700), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("trigger_id", String(64), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("recipient", String(320)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    # An attempt followed one that ended without an outcome: the receiver may have it twice.
    Column("in_doubt", Boolean, nullable=False, server_default=false()),
    Index("ix_deliveries_due", "status", "channel", "next_attempt_at"),
)

# API bearer tokens (shared/tokens.py): only a SHA-256 of each token is kept. A name belongs to
# one unrevoked token at a time; revoked rows stay listed.
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
