"""The scoring service's settings, its API's and its rules' (PULSE_ variables; docs/contract.md)."""

from __future__ import annotations

import ipaddress
import os

from pydantic import Field, field_validator, model_validator

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError

# What each removed PULSE_RULE_ variable became in the scorecard (docs/scorecard.md).
RULE_VARIABLES = {
    "PULSE_RULE_PLAN_LIMIT_FIRE_RATIO": "rules.plan_limit_80.fire_ratio",
    "PULSE_RULE_PLAN_LIMIT_REARM_RATIO": "rules.plan_limit_80.rearm_ratio",
    "PULSE_RULE_ENGAGED_WINDOW_DAYS": "rules.single_threaded.engaged_window_days",
    "PULSE_RULE_SINGLE_THREADED_MIN_ENGAGED": "rules.single_threaded.min_engaged",
    "PULSE_RULE_SINGLE_THREADED_HOLD_DAYS": "rules.single_threaded.hold_days",
    "PULSE_RULE_HEALTH_RED_BELOW": "health.bands.red_below",
    "PULSE_RULE_HEALTH_GREEN_FROM": "health.bands.green_from",
    "PULSE_RULE_HEALTH_RED_REARM_MARGIN": "rules.health_red.rearm_margin",
    "PULSE_RULES": "the scorecard file",
}


class ScoringSettings(BaseServiceSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # The scorecard file (docs/scorecard.md); unset: the built-in one.
    scorecard: str | None = None
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
    def _refuse_rule_variables(self) -> ScoringSettings:
        # The rules' parameters moved to the scorecard, per tier: a variable left set would
        # otherwise be ignored without a word.
        for name in sorted(os.environ):
            if name.startswith("PULSE_RULE") and os.environ[name]:
                now = RULE_VARIABLES.get(name, "the scorecard file")
                raise ConfigurationError(
                    f"{name} is no longer read: set {now} in a scorecard file "
                    "(PULSE_SCORECARD; `pulse scorecard show` prints the default)"
                )
        return self

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
