"""Prometheus metrics of the shared plumbing (consumer loops, dead letters), labelled by
service; each service keeps its own in services/<name>/metrics.py. Served at /metrics (API)
or PULSE_METRICS_PORT."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DEAD_LETTERS = Counter(
    "pulse_dead_letters_total", "Messages sent to the dead-letter topic", ["source", "service"]
)
FLUSH_SECONDS = Histogram(
    "pulse_flush_seconds", "Time to store one batch's effects and offsets", ["service"]
)
BATCH_RECORDS = Histogram(
    "pulse_batch_records",
    "Records per processed batch",
    ["service"],
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
)
LOGS_REPLACED = Counter(
    "pulse_log_replaced_total",
    "Partitions whose log was found replaced or cut short under a stored offset; consumption "
    "resumed at the log's start",
    ["service", "topic"],
)
