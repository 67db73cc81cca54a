"""The alerts service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
ROUTES_RELOADS = Counter(
    "pulse_routes_reloads_total", "Routing file reloads, by outcome (loaded, invalid)", ["outcome"]
)
