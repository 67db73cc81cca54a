"""The ingest service's settings (PULSE_ variables; docs/contract.md)."""

from __future__ import annotations

from pydantic import Field

from shared.config import BaseServiceSettings


class IngestSettings(BaseServiceSettings):
    # Events dated further than this into the future are rejected: a wrong clock would
    # otherwise move an account's event time ahead and distort every window.
    max_future_skew_seconds: int = Field(default=86400, ge=0)
    # How often ingest asks the cluster for the signals topic's partition count (before a
    # batch, at most this often; 0: before every batch). Asking is a round trip every batch
    # would wait for; a count changed meanwhile routes at most this long's signals by the old
    # count, which scoring dead-letters with the reason (docs/operations.md).
    partition_check_seconds: float = Field(default=1.0, ge=0)
