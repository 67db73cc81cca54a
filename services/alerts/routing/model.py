"""The routing file (PULSE_ROUTES), in Alertmanager's shape: receivers, a route tree,
inhibit_rules, and escalations of alerts nobody acknowledged (docs/alerting.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
)

from services.alerts.routing.matchers import Matcher, MatcherError, parse_matcher

ACCOUNT_CSM = "account_csm"  # a receiver's channel or address: the account's CSM's
# The built-in routing's one receiver, and that of every delivery made before routing files.
CSM_RECEIVER = "csm"
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def _matcher(value: Any) -> Matcher:
    if not isinstance(value, str):
        raise ValueError("a matcher is a string, such as 'type=\"health_red\"'")
    try:
        return parse_matcher(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


def _duration(value: Any) -> float:
    """Seconds, from Prometheus's duration format ("30s", "5m", "1h30m", "7d")."""
    text = str(value).strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + unit for n, unit in parts) != text:
        raise ValueError(f"{value!r} is not a duration: a number and a unit, such as 30s, 5m, 24h")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts)


MatcherField = Annotated[Matcher, PlainValidator(_matcher), PlainSerializer(str, return_type=str)]
Seconds = Annotated[float, PlainValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackReceiver(_Strict):
    channel: str = Field(min_length=1)  # a channel id or name, or account_csm


class EmailReceiver(_Strict):
    to: str = Field(min_length=1)  # an address, or account_csm

    @field_validator("to")
    @classmethod
    def _address(cls, to: str) -> str:
        if to != ACCOUNT_CSM and "@" not in to:
            raise ValueError(f"{to!r} is neither an email address nor {ACCOUNT_CSM}")
        return to


class WebhookReceiver(_Strict):
    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")


class Receiver(_Strict):
    name: str = Field(min_length=1)
    slack: SlackReceiver | None = None
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None

    def channels(self) -> list[str]:
        return [c for c in ("slack", "email", "webhook") if getattr(self, c) is not None]


class Route(_Strict):
    receiver: str | None = None
    matchers: list[MatcherField] = []
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Seconds | None = None
    group_interval: Seconds | None = None
    routes: list[Route] = []


class InhibitRule(_Strict):
    source_matchers: list[MatcherField] = Field(min_length=1)
    target_matchers: list[MatcherField] = Field(min_length=1)
    equal: list[str] = []


class Escalation(_Strict):
    matchers: list[MatcherField] = []
    after: Seconds
    receiver: str


class RoutingFile(_Strict):
    receivers: list[Receiver] = Field(min_length=1)
    route: Route
    inhibit_rules: list[InhibitRule] = []
    escalations: list[Escalation] = []
