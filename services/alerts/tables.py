"""The alerts service's table (SQLAlchemy Core): deliveries. The top-level migrations package
creates it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

# One row per (dedup_key, receiver, channel, notice): makes each notification happen once
# across restarts and instances, and carries the retry schedule of a failing one.
deliveries = Table(
    "deliveries",
    metadata,
    Column("dedup_key", String(700), primary_key=True),
    Column("receiver", String(200), primary_key=True, server_default="csm"),
    Column("channel", String(20), primary_key=True),
    # What the row sends (services/alerts/notices.py): the alert, its resolved notice, its
    # escalation, or an update of its Slack message (acknowledged, snoozed).
    Column("notice", String(10), primary_key=True, server_default="alert"),
    # The receiver's channel or address; none: the account's CSM's.
    Column("target", String(320)),
    # Slack's ts of the message sent, and its conversation: for the resolved notice's thread
    # and the chat.update of an acknowledged alert.
    Column("message_ts", String(40)),
    Column("message_channel", String(40)),
    # What a follow-up notice adds to its alert: an escalation's reason, who acknowledged.
    Column("note", Text),
    # Rows of one route group (group_by) and channel go out in one message.
    Column("group_key", Text),
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
    # GET /v1/alerts: the newest first, of every account or of one.
    Index("ix_deliveries_created", "created_at"),
    Index("ix_deliveries_account", "account_id", "created_at"),
    Index("ix_deliveries_trigger", "trigger_id"),
    Index("ix_deliveries_group", "group_key", "channel", "status"),
)


# Alertmanager's silences: while one is in force (starts_at <= now < ends_at), a delivery of a
# trigger whose labels its matchers all match is recorded `silenced` and never sent.
silences = Table(
    "silences",
    metadata,
    Column("silence_id", String(36), primary_key=True),
    Column("matchers", Text, nullable=False),  # [{name, value, isRegex, isEqual}] as JSON
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_silences_ends", "ends_at"),
)


# Who acknowledged an alert, and when: the first acknowledgement of a trigger is kept.
acknowledgements = Table(
    "acknowledgements",
    metadata,
    Column("trigger_id", String(64), primary_key=True),
    Column("acknowledged_by", String(200), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
)


# Each alert's last known status (firing or resolved, from its trigger events) and labels:
# what inhibit_rules look up to mute one alert while another of its account fires.
alert_states = Table(
    "alert_states",
    metadata,
    Column("dedup_key", String(700), primary_key=True),
    Column("account_id", String(200), nullable=False),
    Column("labels", Text, nullable=False),  # JSON, as routes and inhibit_rules see them
    Column("firing", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_states_firing", "account_id", "firing"),
)
