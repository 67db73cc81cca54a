"""The contract's input messages, their validation, and the normalized signals scoring reads.

Every input message becomes either one signal on cs.signals or one dead letter with a reason.
Validation is strict about types (a number is a number, not a numeric string), lenient about
unknown fields (ignored, for forward compatibility).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

M = TypeVar("M", bound=BaseModel)
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=500)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def lowered(value: str) -> str:
    return value.strip().lower()


def valid_email(value: str) -> str:
    value = value.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or not domain or " " in value:
        raise ValueError("must be an email address like name@example.com")
    return value


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(valid_email)]
Department = Annotated[str, StringConstraints(max_length=200), AfterValidator(lowered)]
NonNegative = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_event_time(value: Any) -> datetime:
    """RFC 3339 with an explicit offset, normalized to UTC."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    if not RFC3339.fullmatch(value):
        if RFC3339.fullmatch(value + "Z"):
            raise ValueError("must carry a UTC offset (Z or +hh:mm)")
        raise ValueError("must be an RFC 3339 timestamp like 2026-11-20T10:00:00Z")
    # Python takes at most microseconds; RFC 3339 allows any number of fraction digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value).upper()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp like 2026-11-20T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry a UTC offset (Z or +hh:mm)")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 falls past year 9999 in UTC
        raise ValueError("is out of range") from None
    if parsed < EARLIEST:
        raise ValueError("is before 2000-01-01")
    return parsed


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(Message):
    event_id: Id
    account_id: Id
    occurred_at: datetime

    _check_time = field_validator("occurred_at", mode="before")(parse_event_time)


class UsageEvent(Event):
    user_id: Id | None = None
    feature: Name | None = None
    metric: Name | None = None
    value: NonNegative | None = None
    mode: Literal["delta", "absolute"] = "delta"

    @model_validator(mode="after")
    def _feature_or_metric(self) -> UsageEvent:
        if self.feature is None and self.metric is None:
            raise ValueError("feature or metric is required")
        if self.metric is not None and self.value is None:
            raise ValueError("value is required with metric")
        if self.value is not None and self.metric is None:
            raise ValueError("metric is required with value")
        return self


class LoginEvent(Event):
    user_id: Id
    email: Email | None = None
    title: Text | None = None
    department: Department | None = None


class SupportEvent(Event):
    ticket_id: Id
    status: Literal["opened", "updated", "solved", "closed", "reopened"]
    # Absent means "as before" for an update; a new ticket starts as normal / other.
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    category: Literal["bug", "question", "feature_request", "billing", "other"] | None = None
    requested_feature: Text | None = None
    csat: Annotated[int, Field(ge=1, le=5, strict=True)] | None = None
    requester_email: Email | None = None


class Csm(Message):
    name: Text | None = None
    email: Email | None = None
    slack: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


PositiveLimit = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]


class Plan(Message):
    name: Text | None = None
    period: Literal["month", "year"] = "month"
    limits: dict[Name, PositiveLimit] = Field(default_factory=dict, max_length=200)


class AccountFields(Message):
    """An account record without its id: the body of PUT /v1/accounts/{account_id}."""

    name: Text | None = None
    tier: Annotated[int, Field(ge=0, le=1000, strict=True)] | None = None
    arr: NonNegative | None = None
    csm: Csm | None = None
    plan: Plan | None = None
    renewal_date: date | None = None


class AccountRecord(AccountFields):
    account_id: Id


class StakeholderFields(Message):
    """A stakeholder record without its keys: the body of PUT .../stakeholders/{email}."""

    name: Text | None = None
    title: Text | None = None
    department: Department | None = None
    role: Literal["champion", "economic_buyer", "executive_sponsor", "admin", "user"] = "user"
    status: Literal["active", "left"] = "active"


class StakeholderRecord(StakeholderFields):
    account_id: Id
    email: Email


Kind = Literal["usage", "login", "support", "account", "stakeholder"]
MODELS: dict[str, type[Message]] = {
    "usage": UsageEvent,
    "login": LoginEvent,
    "support": SupportEvent,
    "account": AccountRecord,
    "stakeholder": StakeholderRecord,
}


class Rejected(Exception):
    """A message that breaks the contract; the reason is meant for an operator to read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(error: ValidationError) -> str:
    """One readable line naming each offending field."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        field = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def decode(raw: bytes | None, *, max_bytes: int) -> dict[str, Any]:
    """One message value as a JSON object, or Rejected with a reason an operator can read."""
    if raw is None:
        raise Rejected("empty message (no value)")
    if len(raw) > max_bytes:
        raise Rejected(f"value is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected(f"value must be a JSON object, got {type(data).__name__}")
    if b"\\u0000" in raw and (where := _nul_at(data)) is not None:  # rare: look closer
        raise Rejected(f"{where or 'value'}: text must not contain NUL (U+0000)")
    return data


def _nul_at(data: dict[str, Any]) -> str | None:
    """Where a NUL character sits in decoded JSON, as a dotted path; None if nowhere.
    PostgreSQL text cannot hold one: a record carrying it would fail every flush. (A loop, not
    recursion: hostile input nests as deep as the parser allows.)"""
    waiting: list[tuple[str, Any]] = [("", data)]
    while waiting:
        path, value = waiting.pop()
        if isinstance(value, str) and "\x00" in value:
            return path
        if isinstance(value, dict):
            for key, item in value.items():
                here = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return here.replace("\x00", "\\u0000")
                waiting.append((here, item))
        elif isinstance(value, list):
            waiting += [(f"{path}[{n}]", item) for n, item in enumerate(value)]
    return None


def validate_object(model: type[M], data: dict[str, Any]) -> M:
    """A decoded message as `model`, or Rejected with a reason naming each offending field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Rejected(describe(exc)) from None


def parse_model(model: type[M], raw: bytes | None, *, max_bytes: int) -> M:
    """One message value as `model`, or Rejected with a reason an operator can read."""
    return validate_object(model, decode(raw, max_bytes=max_bytes))


def check(kind: str, data: dict[str, Any], *, latest: datetime | None) -> Message:
    """Check one decoded input message, or raise Rejected with the reason."""
    message = validate_object(MODELS[kind], data)
    if latest is not None and isinstance(message, Event) and message.occurred_at > latest:
        raise Rejected(f"occurred_at: {message.occurred_at.isoformat()} is too far in the future")
    return message


def validate(kind: str, raw: bytes | None, *, max_bytes: int, latest: datetime | None) -> Message:
    """Parse and check one input message value, or raise Rejected with the reason."""
    return check(kind, decode(raw, max_bytes=max_bytes), latest=latest)


def to_signal(kind: str, message: Message, signal_id: str) -> dict[str, Any]:
    """The normalized form written to cs.signals: kind, signal_id, and the message's fields."""
    body = message.model_dump(mode="json", exclude_none=True)
    if isinstance(message, Event):
        body["ts"] = message.occurred_at.timestamp()
        signal_id = message.event_id
    return {"kind": kind, "signal_id": signal_id, **body}
