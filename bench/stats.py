"""Percentiles and rates: small pure functions the phases and the report share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(seconds: Sequence[float]) -> Percentiles:
    """Latencies given in seconds, summarized in milliseconds."""
    return Percentiles(
        samples=len(seconds),
        p50_ms=round(percentile(seconds, 50) * 1000, 2),
        p95_ms=round(percentile(seconds, 95) * 1000, 2),
        p99_ms=round(percentile(seconds, 99) * 1000, 2),
        max_ms=round(max(seconds) * 1000, 2),
    )


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0
