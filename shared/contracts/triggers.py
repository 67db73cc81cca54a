"""cs.triggers: the trigger event, written by scoring (through its outbox) and read by alerts
and anyone else (docs/contract.md, "Trigger event").

A trigger event carries everything a receiver needs: what fired and why, the health it left
the account in, and the account as recorded when it fired (name, tier, ARR, plan, renewal
date, CSM...). So alerts delivers from the event alone, and the CSM an alert goes to is the one
the account had when the trigger fired.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from shared.contracts.inputs import Csm, LabelName, Plan
from shared.contracts.messages import Message, NonNegative, Text, parse_event_time, parse_model

# Length limits are the outbox's and the deliveries table's columns': a valid trigger can
# always be stored, so an oversized key is a dead letter, never a batch that fails forever.
TriggerId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Severity = Annotated[str, StringConstraints(min_length=1, max_length=20)]
DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=700)]
Summary = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]

Category = Literal["risk", "lifecycle", "expansion", "advocacy"]
Status = Literal["firing", "resolved"]

# The category of each type scoring fires (docs/contract.md, the trigger catalogue).
CATEGORIES: dict[str, Category] = {
    "plan_limit_80": "expansion",
    "plan_limit_100": "expansion",
    "single_threaded": "risk",
    "health_red": "risk",
    "champion_left": "risk",
    "champion_quiet": "risk",
    "nps_detractor": "risk",
    "support_spike": "risk",
    "low_adoption": "risk",
    "usage_decline": "risk",
    "renewal_at_risk": "risk",
    "renewal_window": "lifecycle",
    "onboarding_stalled": "lifecycle",
    "login_frequency_up": "expansion",
    "seat_growth": "expansion",
    "feature_request_higher_tier": "expansion",
    "advocacy_ready": "advocacy",
    "expansion_ready": "expansion",
}


class TriggerHealth(Message):
    score: int | float | None  # None: no component has data yet
    band: str


class TriggerAccount(Message):
    """The account as recorded when the trigger fired; null fields were never recorded."""

    name: Text | None = None
    tier: int | None = None
    segment: Text | None = None
    arr: NonNegative | None = None
    plan: Plan | None = None
    renewal_date: date | None = None
    labels: dict[LabelName, Text] | None = None
    crm_url: Text | None = None
    csm: Csm | None = None


class TriggerEvent(Message):
    trigger_id: TriggerId
    type: TypeName
    account_id: AccountId
    fired_at: datetime
    severity: Severity
    # Absent from events of producers older than the trigger catalogue.
    category: Category | None = None
    status: Status = "firing"
    # When the episode ended, in the account's event time: set on a resolved event only.
    resolved_at: datetime | None = None
    dedup_key: DedupKey
    summary: Summary
    details: dict[str, Any] = Field(default_factory=dict)
    # An alert without a score is still worth sending, so health is optional.
    health: TriggerHealth | None = None
    # Absent from events written before triggers carried their account: then nobody is known
    # to own the account, and alerts falls back as for an account without a CSM.
    account: TriggerAccount | None = None
    scorecard_version: str | None = None
    playbook: str | None = None

    @field_validator("fired_at", "resolved_at", mode="before")
    @classmethod
    def _event_time(cls, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime) and value.tzinfo is not None:  # built, not parsed
            return value.astimezone(UTC)
        return parse_event_time(value)

    def to_json(self) -> bytes:
        """The event as published on cs.triggers and stored in the outbox."""
        return self.model_dump_json().encode()


def parse_trigger(raw: bytes | None, *, max_bytes: int) -> TriggerEvent:
    """One cs.triggers value, or Rejected with a reason an operator can read."""
    return parse_model(TriggerEvent, raw, max_bytes=max_bytes)
