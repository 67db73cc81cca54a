"""One module per measurement, each returning a dataclass: the raw limit, throughput (and
the naive baseline), memory, and latency (with its probes and health load)."""

from bench.phases.common import Context
from bench.phases.latency import HEALTH_SECONDS, Latency, measure_latency
from bench.phases.memory import Memory, measure_split, per_account
from bench.phases.raw import Raw, measure_raw
from bench.phases.throughput import Throughput, measure_baseline, measure_up

__all__ = [
    "HEALTH_SECONDS",
    "Context",
    "Latency",
    "Memory",
    "Raw",
    "Throughput",
    "measure_baseline",
    "measure_latency",
    "measure_raw",
    "measure_split",
    "measure_up",
    "per_account",
]
