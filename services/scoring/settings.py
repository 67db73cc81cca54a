"""The scoring service's settings, its API's and its rules' (PULSE_ variables; docs/contract.md)."""

from __future__ import annotations

import ipaddress
import os

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError


class RuleSettings(BaseSettings):
    """Thresholds of the health bands and trigger rules (contract defaults)."""

    model_config = SettingsConfigDict(
        env_prefix="PULSE_RULE_", extra="ignore", env_ignore_empty=True
    )

    plan_limit_fire_ratio: float = 0.8
    plan_limit_rearm_ratio: float = 0.7
    engaged_window_days: int = 30
    single_threaded_min_engaged: int = 3
    single_threaded_hold_days: int = 7
    health_red_below: int = 40
    health_green_from: int = 70
    # health_red re-arms once the score climbs this far above the red line.
    health_red_rearm_margin: int = 5


class ScoringSettings(BaseServiceSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    rules: RuleSettings = Field(default_factory=RuleSettings)
    # How long after it arrived an account remembers a signal id, to drop a producer's
    # duplicates (docs/contract.md, signal_id dedup).
    dedup_window_hours: float = Field(default=24.0, gt=0)
    # How often purely time-driven rules are evaluated for live accounts (wall clock).
    tick_seconds: float = Field(default=60.0, gt=0)
    # An account is "live" when its newest event is at most this old by the wall clock.
    live_window_seconds: int = Field(default=86400, ge=0)
    # The most accounts kept decoded, the most recently used, between batches and within
    # one; the others are kept packed, a fraction of the size, and decoded when an
    # event touches them.
    scoring_hot_accounts: int = Field(default=20000, ge=0)
    # How long a PUT waits for its record to be applied before answering 202.
    api_write_wait_seconds: float = Field(default=5.0, ge=0)
    # API limits (docs/operations.md, Security): request body size, and a token bucket per
    # token (per client address without one); a rate of 0 turns the rate limit off.
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1)
    api_rate_per_second: float = Field(default=50.0, ge=0)
    api_rate_burst: int = Field(default=100, ge=1)
    # How long the API trusts its copy of the token table: a new or revoked token takes effect
    # within this time (0: read the table on every request).
    api_token_cache_seconds: float = Field(default=5.0, ge=0)
    # Proxies whose X-Forwarded-For names the client (addresses or networks, comma-separated);
    # from anyone else the header is ignored, so it cannot pick a caller's rate-limit bucket.
    trusted_proxies: str = ""

    @model_validator(mode="after")
    def _refuse_removed(self) -> ScoringSettings:
        # A count of ids made the window inexact for busy accounts: say so rather than
        # silently ignore an operator's setting.
        for name in ("PULSE_DEDUP_WINDOW", "PULSE_DEDUP_RETENTION_HOURS"):
            if os.environ.get(name):
                raise ConfigurationError(
                    f"{name} is no longer read: signal ids are remembered for "
                    "PULSE_DEDUP_WINDOW_HOURS (default 24) after they arrive, however many"
                )
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"PULSE_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                    "(e.g. 10.0.0.5 or 10.0.0.0/8)"
                ) from None
        return value
