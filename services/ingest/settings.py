"""The ingest service's settings (PULSE_ variables; docs/contract.md)."""

from __future__ import annotations

from pydantic import Field

from shared.config import BaseServiceSettings


class IngestSettings(BaseServiceSettings):
    # Events dated further than this into the future are rejected: a wrong clock would
    # otherwise move an account's event time ahead and distort every window.
    max_future_skew_seconds: int = Field(default=86400, ge=0)
