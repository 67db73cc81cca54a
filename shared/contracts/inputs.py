"""The input topics' messages (cs.product-usage, cs.logins, cs.support, cs.surveys,
cs.accounts, cs.stakeholders): events and records as the contract defines them, and their checks.

Every input message becomes either one signal on cs.signals (signals.py) or one dead letter
with a reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from shared.contracts.messages import (
    Department,
    Email,
    Id,
    Message,
    Name,
    NonNegative,
    Rejected,
    Text,
    decode,
    parse_event_time,
    validate_object,
)


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


SURVEY_SCALES = {"nps": (0, 10), "csat": (1, 5)}


class SurveyEvent(Event):
    """An NPS or CSAT answer; the respondent is matched to the account's people like a login."""

    user_id: Id | None = None
    email: Email | None = None
    survey: Literal["nps", "csat"]
    score: Annotated[int, Field(strict=True)]
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None

    @model_validator(mode="after")
    def _respondent_and_scale(self) -> SurveyEvent:
        if self.user_id is None and self.email is None:
            raise ValueError("user_id or email is required (the respondent)")
        low, high = SURVEY_SCALES[self.survey]
        if not low <= self.score <= high:
            raise ValueError(f"score: a {self.survey} score is an integer {low}..{high}")
        return self


class Csm(Message):
    name: Text | None = None
    email: Email | None = None
    slack: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


LabelName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
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
    start_date: date | None = None
    segment: Text | None = None
    labels: dict[LabelName, Text] | None = Field(default=None, max_length=50)
    crm_url: Text | None = None


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


Kind = Literal["usage", "login", "support", "survey", "account", "stakeholder"]
MODELS: dict[str, type[Message]] = {
    "usage": UsageEvent,
    "login": LoginEvent,
    "support": SupportEvent,
    "survey": SurveyEvent,
    "account": AccountRecord,
    "stakeholder": StakeholderRecord,
}


def check(kind: str, data: dict[str, Any], *, latest: datetime | None) -> Message:
    """Check one decoded input message, or raise Rejected with the reason."""
    message = validate_object(MODELS[kind], data)
    if latest is not None and isinstance(message, Event) and message.occurred_at > latest:
        raise Rejected(f"occurred_at: {message.occurred_at.isoformat()} is too far in the future")
    return message


def validate(kind: str, raw: bytes | None, *, max_bytes: int, latest: datetime | None) -> Message:
    """Parse and check one input message value, or raise Rejected with the reason."""
    return check(kind, decode(raw, max_bytes=max_bytes), latest=latest)
