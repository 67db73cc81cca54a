"""Text PostgreSQL can store, and answers JSON in UTF-8 can carry: what the API checks in
records before publishing them, and makes of inputs before echoing them."""

from __future__ import annotations

import math
from typing import Any


def storable(text: str) -> bool:
    """Whether PostgreSQL can store `text`: no NUL, and no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def unstorable(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in a record is text that PostgreSQL cannot store, if anywhere. A bad key gives its
    parent's path: the answer cannot quote it."""
    if isinstance(value, str):
        return None if storable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(item, (*path, key)) if storable(key) else path
            if found is not None:
                return found
    return None


def renderable(value: Any) -> Any:
    """`value` as JSON in UTF-8 can carry it: non-finite numbers and text with lone surrogates
    become their text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, dict):
        return {renderable(k): renderable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [renderable(v) for v in value]
    return value
