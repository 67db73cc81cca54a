"""The API's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

REJECTED = Counter(
    "pulse_api_rejected_total",
    "API requests refused before reaching a route, by reason",
    ["reason"],
)
