"""The path and query parameters the routes share, and what they admit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# PostgreSQL text holds no NUL, and UTF-8 no lone surrogate. Text with either is refused at
# the door (422): a record carrying it would fail every flush of scoring's batches.
NO_NUL = r"^[^\x00]*$"
ACCOUNT_ID_MAX = 200
AccountId = Annotated[
    str,
    Path(min_length=1, max_length=ACCOUNT_ID_MAX, pattern=NO_NUL, description="The account's id"),
]
