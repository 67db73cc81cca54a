"""The table every consumer loop shares (SQLAlchemy Core): stored consumer offsets. Each service
owns its other tables (services/<name>/tables.py); the top-level migrations package creates
them all."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
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
