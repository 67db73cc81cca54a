"""Page cursors: the sort key of a page's last row, opaque to the caller, and checked part
by part when it comes back."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import HTTPException

from services.scoring.api.storable import storable


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, *parts: Callable[[Any], Any]) -> list[Any]:
    """The values encode_cursor packed, each checked (and converted) by its part: a cursor the
    API did not return is a 422, whatever it holds, never a query that fails."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(parts):
            raise ValueError
        return [part(value) for part, value in zip(parts, values, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise HTTPException(422, "cursor: not a cursor this API returned") from None


def score_part(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 100:  # not a bool either
        raise ValueError
    return value


def optional_score_part(value: Any) -> int | None:
    return None if value is None else score_part(value)


def text_part(value: Any) -> str:
    if not isinstance(value, str) or not storable(value):
        raise ValueError
    return value


def moment_part(value: Any) -> datetime:
    moment = datetime.fromisoformat(text_part(value))
    if moment.tzinfo is None:
        raise ValueError
    return moment.astimezone(UTC)  # OverflowError at the ends of the calendar
