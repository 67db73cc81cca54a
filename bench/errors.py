"""The one error the benchmark reports: what did not happen, in words."""

from __future__ import annotations

from harness.errors import HarnessError


class BenchError(HarnessError):
    """A wait that timed out, a child that died, a count that did not add up."""
