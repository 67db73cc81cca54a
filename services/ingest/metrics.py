"""The ingest service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

INGESTED = Counter(
    "pulse_ingest_messages_total", "Input messages read by ingest, by outcome", ["topic", "outcome"]
)
