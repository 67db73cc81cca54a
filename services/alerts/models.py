"""What alerts works with: a trigger event as the contract defines it, and the account an
alert is about (with its CSM, the recipient)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from shared.events import parse_event_time, parse_model

# Length limits are the database columns' own (see Trigger).
TriggerId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Severity = Annotated[str, StringConstraints(min_length=1, max_length=20)]
DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=700)]
Summary = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class Health(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    score: float
    band: str


class Trigger(BaseModel):
    """A trigger event (contract, "Trigger event"). Length limits are the columns' own, so a
    valid trigger can always be stored: an oversized key must be a dead letter, not a batch
    that fails forever."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    trigger_id: TriggerId
    type: TypeName
    account_id: AccountId
    fired_at: datetime
    severity: Severity
    dedup_key: DedupKey
    summary: Summary
    details: dict[str, Any] = Field(default_factory=dict)
    # An alert without a score is still worth sending, so health is optional.
    health: Health | None = None

    _check_time = field_validator("fired_at", mode="before")(parse_event_time)


def parse_trigger(raw: bytes | None, *, max_bytes: int) -> Trigger:
    """One trigger message value, or Rejected with a reason an operator can read."""
    return parse_model(Trigger, raw, max_bytes=max_bytes)


@dataclass(frozen=True)
class Account:
    """The part of an account record alerts need. Built leniently from the stored profile:
    a missing or odd profile means "no CSM known", never a failed delivery."""

    account_id: str
    name: str
    csm_name: str | None = None
    csm_email: str | None = None
    csm_slack: str | None = None

    @classmethod
    def from_profile(cls, account_id: str, profile: str | None) -> Account:
        data = _json_object(profile)
        csm = data.get("csm")
        if not isinstance(csm, dict):
            csm = {}
        return cls(
            account_id=account_id,
            name=_str(data.get("name")) or account_id,
            csm_name=_str(csm.get("name")),
            csm_email=_str(csm.get("email")),
            csm_slack=_str(csm.get("slack")),
        )


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _str(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
