"""What every topic's messages share: the base model, the field types, event time, and how a
message value is decoded and checked, with a reason an operator can read when it is not valid.

Validation is strict about types (a number is a number, not a numeric string), lenient about
unknown fields (ignored, for forward compatibility).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
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
