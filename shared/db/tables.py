"""The tables the consumer loops share (SQLAlchemy Core): stored consumer offsets, and the
outbox of dead letters. Each service owns its other tables (services/<name>/tables.py); the
top-level migrations package creates them all."""

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
)

metadata = MetaData()

# Where each consumer group stands, stored in the same transaction as the effects of the
# consumed records: the source of truth for exactly-once effects.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("group_id", String(200), primary_key=True),
    Column("topic", String(300), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    # A fingerprint of the record before next_offset (shared/logcheck.py): tells whether the
    # broker's log is still the one that offset was read from.
    Column("last_record", BigInteger),
)

# Dead letters of the consumers that store their effects in the database (scoring, alerts),
# written in the batch's transaction and relayed to the dead-letter topic after it commits
# (shared/deadletter.py): a batch tried again writes the same rows, and a dead letter goes out
# once. The id derives from the source record, so a retried batch adds nothing.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service", String(50), nullable=False),
    Column("source_topic", String(300), nullable=False),
    Column("topic", String(300), nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", Text, nullable=False),
    Column("published", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_dead_letters_unpublished", "published"),
)
