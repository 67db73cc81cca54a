"""The scoring service's settings, its API's and its rules' (PULSE_ variables; docs/contract.md)."""

from __future__ import annotations

import ipaddress
import os

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError

_SCORECARD = "in a scorecard file (PULSE_SCORECARD; `pulse scorecard show` prints the default)"
_DEDUP = "signal ids are remembered for PULSE_DEDUP_WINDOW_HOURS (default 24) after they arrive"
# Variables of earlier versions, and what took each one's place: one left set is refused by
# name rather than ignored without a word. Rule parameters moved to the scorecard (per tier);
# a count of remembered ids made the dedup window inexact for busy accounts.
REMOVED_VARIABLES = {
    "PULSE_RULE_PLAN_LIMIT_FIRE_RATIO": f"set rules.plan_limit_80.fire_ratio {_SCORECARD}",
    "PULSE_RULE_PLAN_LIMIT_REARM_RATIO": f"set rules.plan_limit_80.rearm_ratio {_SCORECARD}",
    "PULSE_RULE_ENGAGED_WINDOW_DAYS": (
        f"set rules.single_threaded.engaged_window_days {_SCORECARD}"
    ),
    "PULSE_RULE_SINGLE_THREADED_MIN_ENGAGED": (
        f"set rules.single_threaded.min_engaged {_SCORECARD}"
    ),
    "PULSE_RULE_SINGLE_THREADED_HOLD_DAYS": f"set rules.single_threaded.hold_days {_SCORECARD}",
    "PULSE_RULE_HEALTH_RED_BELOW": f"set health.bands.red_below {_SCORECARD}",
    "PULSE_RULE_HEALTH_GREEN_FROM": f"set health.bands.green_from {_SCORECARD}",
    "PULSE_RULE_HEALTH_RED_REARM_MARGIN": f"set rules.health_red.rearm_margin {_SCORECARD}",
    "PULSE_DEDUP_WINDOW": f"{_DEDUP}, however many",
    "PULSE_DEDUP_RETENTION_HOURS": _DEDUP,
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
    # An input topic without new events for this long (processing time) no longer holds
    # back the watermark the rules wait for (docs/contract.md, "Backfills and watermarks");
    # 0 turns the watermark off: the rules judge every event at once.
    watermark_idle_seconds: float = Field(default=30.0, ge=0)
    # The most accounts kept decoded, the most recently used, between batches and within
    # one; the others are kept packed, a fraction of the size, and decoded when an
    # event touches them.
    scoring_hot_accounts: int = Field(default=20000, ge=0)
    # Slack app's signing secret: /v1/slack/interactions answers only requests it signed (the
    # Acknowledge and Snooze buttons); unset, that route is a 404.
    slack_signing_secret: SecretStr | None = None
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
    # The address users reach the API at (https://pulse.example): links printed by
    # `pulse token link`, and Secure cookies for the pages when it is https.
    public_url: str | None = None
    # The pages' sign-in (docs/ui.md): how long a session lasts, and a one-time link.
    ui_session_hours: float = Field(default=12.0, gt=0)
    ui_link_minutes: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _refuse_removed(self) -> ScoringSettings:
        for name in sorted(os.environ):
            instead = REMOVED_VARIABLES.get(name) or (
                f"set the rules {_SCORECARD}" if name.startswith("PULSE_RULE") else None
            )
            if instead and os.environ[name]:
                raise ConfigurationError(f"{name} is no longer read: {instead}")
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
