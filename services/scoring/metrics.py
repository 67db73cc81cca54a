"""The scoring service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SIGNALS_APPLIED = Counter(
    "pulse_scoring_signals_total", "Signals read by scoring, by outcome", ["kind", "outcome"]
)
TRIGGERS_FIRED = Counter("pulse_triggers_fired_total", "Triggers fired", ["type"])
ACCOUNTS_LOADED = Gauge("pulse_scoring_accounts_in_memory", "Accounts held by this instance")
ACCOUNTS_WAITING = Gauge(
    "pulse_scoring_accounts_waiting",
    "Accounts of this instance with days the rules have not judged yet: their topics have not "
    "all come that far (the watermark)",
)
DAYS_WAITED = Counter(
    "pulse_scoring_waited_days_total",
    "Days of an account judged late, once the watermark passed them (a topic lagged)",
)
SCORECARD_RELOADS = Counter(
    "pulse_scorecard_reloads_total", "Scorecard reloads, by outcome (loaded, invalid)", ["outcome"]
)
