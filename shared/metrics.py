"""Prometheus metrics of every service; served at /metrics (API) or PULSE_METRICS_PORT."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGESTED = Counter(
    "pulse_ingest_messages_total", "Input messages read by ingest, by outcome", ["topic", "outcome"]
)
DEAD_LETTERS = Counter(
    "pulse_dead_letters_total", "Messages sent to the dead-letter topic", ["source", "service"]
)
SIGNALS_APPLIED = Counter(
    "pulse_scoring_signals_total", "Signals read by scoring, by outcome", ["kind", "outcome"]
)
TRIGGERS_FIRED = Counter("pulse_triggers_fired_total", "Triggers fired", ["type"])
FLUSH_SECONDS = Histogram(
    "pulse_flush_seconds", "Time to store one batch's effects and offsets", ["service"]
)
BATCH_RECORDS = Histogram(
    "pulse_batch_records",
    "Records per processed batch",
    ["service"],
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
)
ACCOUNTS_LOADED = Gauge("pulse_scoring_accounts_in_memory", "Accounts held by this instance")
DELIVERIES = Counter(
    "pulse_alert_deliveries_total",
    "Alert delivery attempts, by channel and outcome",
    ["channel", "outcome"],
)
DELIVERIES_IN_DOUBT = Counter(
    "pulse_alert_deliveries_in_doubt_total",
    "Attempts whose previous attempt ended without an outcome (a crash or a lost database "
    "after the send began): the receiver may get the alert twice",
    ["channel"],
)
DELIVERIES_PENDING = Gauge("pulse_alert_deliveries_pending", "Deliveries waiting or retrying")
