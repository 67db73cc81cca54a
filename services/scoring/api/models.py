"""The shapes of the API's answers, for its OpenAPI document (docs/contract.md, section 7).

They document; they do not filter. The handlers build their answers directly from the stored
views (the read path is hot: pulse bench loads /health), and
tests/security/test_schemathesis.py checks real answers against these schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from services.alerts.silences import compile_matcher
from services.scoring.scorecard.model import TriggerType as TriggerType  # the catalogue's
from shared.contracts.inputs import AccountRecord
from shared.contracts.triggers import TriggerEvent

# none: no component has data yet (an account named only by a record), and no score.
Band = Literal["green", "yellow", "red", "none"]
Score = Annotated[int, Field(ge=0, le=100)]
# As in shared/events.py's StakeholderFields; people seen only in events are users.
Role = Literal["champion", "economic_buyer", "executive_sponsor", "admin", "user"]


class Refusal(BaseModel):
    """Any answer the API gives instead of doing what was asked, but a 422 on a field."""

    detail: str = Field(examples=["account 'acme' has never been named by an event or record"])


class FieldError(BaseModel):
    """One failed check of FastAPI's (pydantic's) validation."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: FastAPI's list of field errors, or one sentence from the API's own checks (the
    email in the path, since, cursor), naming the field either way."""

    detail: list[FieldError] | str


class Brief(BaseModel):
    score: Score | None
    band: Band


class Usage(BaseModel):
    used: float
    limit: float | None = Field(description="null without a plan limit")
    ratio: float | None = Field(description="used / limit, null without a plan limit")
    period: str = Field(examples=["2026-11", "2026"])


class Account(AccountRecord):
    """The account record's fields (absent for an account named only by events), with its
    health and usage."""

    name: str | None
    health: Brief
    usage: dict[str, Usage]
    updated_at: datetime


class AccountItem(BaseModel):
    account_id: str
    name: str | None
    score: Score | None
    band: Band
    updated_at: datetime


class AccountPage(BaseModel):
    accounts: list[AccountItem]
    next_cursor: str | None = Field(description="null on the last page; else pass as cursor")


class Component(BaseModel):
    score: Score | None = Field(description="null without data (left out of the score)")
    weight: float
    why: str
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="the numbers the score came from"
    )


class ActiveTrigger(BaseModel):
    trigger_id: str
    type: TriggerType
    dedup_key: str
    fired_at: datetime
    summary: str


class Trend(BaseModel):
    d7: int | None = Field(description="the score's change over 7 days of event time")
    d30: int | None = Field(description="the score's change over 30 days of event time")


class Health(BaseModel):
    account_id: str
    score: Score | None = Field(description="null when no component has data (band none)")
    band: Band
    components: dict[str, Component]
    active_triggers: list[ActiveTrigger]
    updated_at: datetime
    # The scorecard the score was computed with (null for a score stored before scorecards).
    scorecard_version: str | None = None
    trend: Trend | None = None


class Stakeholder(BaseModel):
    email: str | None
    user_id: str | None
    name: str | None
    title: str | None
    department: str | None
    role: Role
    status: Literal["active", "left"]
    last_seen: datetime | None
    engaged: bool


class Stakeholders(BaseModel):
    account_id: str
    stakeholders: list[Stakeholder]


class TriggerPage(BaseModel):
    triggers: list[TriggerEvent] = Field(description="trigger events, as on cs.triggers")
    next_cursor: str | None = Field(description="null on the last page; else pass as cursor")


class Cause(BaseModel):
    kind: Literal["signal", "tick", "scorecard"]
    signal_id: str | None = Field(None, description="kind signal: the signal that changed it")
    version: str | None = Field(None, description="kind scorecard: the new scorecard's version")


class HistoryPoint(BaseModel):
    at: datetime = Field(description="event time of the change")
    score: Score | None
    band: Band
    components: dict[str, int | float | None] = Field(description="each component's score")
    cause: Cause


class HistoryPage(BaseModel):
    account_id: str
    points: list[HistoryPoint] = Field(description="oldest first")
    next_cursor: str | None = Field(description="null on the last page; else pass as cursor")


class Explanation(BaseModel):
    condition: str = Field(description="the rule in words, with the thresholds it fired at")
    thresholds: dict[str, Any] = Field(description="the rule's parameters at firing")
    values: dict[str, Any] = Field(description="the numbers the rule saw when it fired")
    scorecard_version: str | None = Field(description="the scorecard that set the thresholds")


class TriggerExplained(BaseModel):
    trigger: TriggerEvent
    status: Literal["firing", "resolved"] = Field(
        description="firing while the trigger is among its account's active triggers"
    )
    resolved_at: datetime | None = Field(
        description="when its episode ended (the resolved event's resolved_at), else null"
    )
    explanation: Explanation


class Alive(BaseModel):
    status: Literal["ok"]


NOTICES = "{part: what an operator should know}; absent when there is nothing"


class Ready(BaseModel):
    status: Literal["ready"]
    notices: dict[str, str] | None = Field(None, description=NOTICES)


class NotReady(BaseModel):
    status: Literal["not ready"]
    problems: dict[str, str] = Field(description="{part: reason}")
    notices: dict[str, str] | None = Field(None, description=NOTICES)


class SilenceMatcher(BaseModel):
    """Alertmanager's matcher (its camelCase names): name, value, whether value is a regular
    expression (matched whole), and whether the label must equal (or must not match) it."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100, examples=["type"])
    value: str = Field(max_length=500, examples=["renewal_.*"])
    isRegex: bool = False
    isEqual: bool = True

    @model_validator(mode="after")
    def _compiles(self) -> SilenceMatcher:
        compile_matcher(self.model_dump())  # a MatcherError (a ValueError) names the regex
        return self


class SilenceIn(BaseModel):
    """A silence to create, in Alertmanager's shape."""

    matchers: list[SilenceMatcher] = Field(min_length=1, max_length=20)
    startsAt: datetime
    endsAt: datetime
    createdBy: str = Field(min_length=1, max_length=200)
    comment: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _span(self) -> SilenceIn:
        if self.startsAt.tzinfo is None or self.endsAt.tzinfo is None:
            raise ValueError("startsAt and endsAt need a time zone (Z or +hh:mm)")
        if self.endsAt <= self.startsAt:
            raise ValueError("endsAt must come after startsAt")
        return self


class SilenceState(BaseModel):
    state: Literal["pending", "active", "expired"]


class Silence(BaseModel):
    id: str
    matchers: list[SilenceMatcher]
    startsAt: datetime
    endsAt: datetime
    createdBy: str
    comment: str
    updatedAt: datetime
    status: SilenceState


class SilenceCreated(BaseModel):
    silenceID: str


DeliveryStatus = Literal["pending", "delivered", "failed", "skipped", "silenced"]


class AlertDelivery(BaseModel):
    """One delivery of an alert: a trigger to one receiver on one channel, as an alert or as
    the escalation of an alert nobody acknowledged in time."""

    trigger_id: str
    dedup_key: str
    account_id: str
    receiver: str
    channel: str
    notice: Literal["alert", "escalated"]
    status: DeliveryStatus
    due_at: datetime | None = Field(
        description="while pending: when it goes (an escalation's deadline, a retry)"
    )
    attempts: int
    recipient: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class AlertPage(BaseModel):
    alerts: list[AlertDelivery] = Field(description="the newest first")
    next_cursor: str | None = Field(description="null on the last page; else pass as cursor")


class AckIn(BaseModel):
    by: str = Field(min_length=1, max_length=200, examples=["sam@vendor.example"])


class Acknowledgement(BaseModel):
    trigger_id: str
    acknowledged_by: str
    acknowledged_at: datetime


class SnoozeIn(BaseModel):
    days: int = Field(ge=1, le=365, examples=[7])
    by: str = Field(min_length=1, max_length=200, examples=["sam@vendor.example"])


class Snoozed(BaseModel):
    silenceID: str
    endsAt: datetime


class Handled(BaseModel):
    handled: list[str] = Field(description="what the buttons did, as the message now says")
