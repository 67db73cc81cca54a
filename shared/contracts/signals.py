"""cs.signals: the one internal format every input becomes, written by ingest (and by the API's
writes) and read by scoring.

A signal is an input message normalized: its fields as the contract models (inputs.py) dump
them, plus `kind` and `signal_id` (the event_id, or the record's position for a record), and
for an event `ts`, its occurred_at as epoch seconds. Signals travel as JSON objects and are
handled as plain dicts typed by these TypedDicts: scoring applies millions of them, and a
model object per signal would cost more than applying it.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from shared.contracts.inputs import Event
from shared.contracts.messages import Message, Rejected

SignalKind = Literal["usage", "login", "support", "survey", "account", "stakeholder"]
KINDS: frozenset[str] = frozenset(("usage", "login", "support", "survey", "account", "stakeholder"))


class EventFields(TypedDict):
    """What every event signal carries: its ids, and its event time as text and as epoch
    seconds (ts)."""

    signal_id: str
    event_id: str
    account_id: str
    occurred_at: str
    ts: float


class UsageSignal(EventFields):
    kind: Literal["usage"]
    user_id: NotRequired[str]
    feature: NotRequired[str]
    metric: NotRequired[str]
    value: NotRequired[float]
    mode: Literal["delta", "absolute"]


class LoginSignal(EventFields):
    kind: Literal["login"]
    user_id: str
    email: NotRequired[str]
    title: NotRequired[str]
    department: NotRequired[str]


class SupportSignal(EventFields):
    kind: Literal["support"]
    ticket_id: str
    status: Literal["opened", "updated", "solved", "closed", "reopened"]
    priority: NotRequired[Literal["low", "normal", "high", "urgent"]]
    category: NotRequired[Literal["bug", "question", "feature_request", "billing", "other"]]
    requested_feature: NotRequired[str]
    csat: NotRequired[int]
    requester_email: NotRequired[str]


class SurveySignal(EventFields):
    kind: Literal["survey"]
    user_id: NotRequired[str]
    email: NotRequired[str]
    survey: Literal["nps", "csat"]
    score: int
    comment: NotRequired[str]


class CsmFields(TypedDict, total=False):
    name: str
    email: str
    slack: str


class PlanFields(TypedDict):
    name: NotRequired[str]
    period: Literal["month", "year"]
    limits: dict[str, float]


class AccountSignal(TypedDict):
    kind: Literal["account"]
    signal_id: str
    account_id: str
    name: NotRequired[str]
    tier: NotRequired[int]
    arr: NotRequired[float]
    csm: NotRequired[CsmFields]
    plan: NotRequired[PlanFields]
    renewal_date: NotRequired[str]
    start_date: NotRequired[str]
    segment: NotRequired[str]
    labels: NotRequired[dict[str, str]]
    crm_url: NotRequired[str]


class StakeholderSignal(TypedDict):
    kind: Literal["stakeholder"]
    signal_id: str
    account_id: str
    email: str
    name: NotRequired[str]
    title: NotRequired[str]
    department: NotRequired[str]
    role: Literal["champion", "economic_buyer", "executive_sponsor", "admin", "user"]
    status: Literal["active", "left"]


EventSignal = UsageSignal | LoginSignal | SupportSignal | SurveySignal
RecordSignal = AccountSignal | StakeholderSignal
Signal = EventSignal | RecordSignal


def to_signal(kind: str, message: Message, signal_id: str) -> Signal:
    """The signal of a checked input message; an event's own event_id is its signal_id."""
    body = message.model_dump(mode="json", exclude_none=True)
    if isinstance(message, Event):
        body["ts"] = message.occurred_at.timestamp()
        signal_id = message.event_id
    return cast(Signal, {"kind": kind, "signal_id": signal_id, **body})


def record_signal(kind: Literal["account", "stakeholder"], signal_id: str, body: Any) -> Signal:
    """The signal of a record written through the API (its body already checked)."""
    return cast(Signal, {"kind": kind, "signal_id": signal_id, **body})


def encode_signal(signal: Signal | dict[str, Any]) -> bytes:
    return orjson.dumps(signal)


def decode_signal(raw: bytes | None) -> Signal:
    """One cs.signals value. Ingest wrote it from a checked message, so only its envelope is
    checked here; a value that is not a signal is Rejected (scoring dead-letters it)."""
    if raw is None:
        raise Rejected("empty message (no value)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"not valid UTF-8 JSON: {exc}") from None
    if type(data) is not dict or data.get("kind") not in KINDS:
        raise Rejected("not a signal: a JSON object with a known kind is expected")
    if type(data.get("account_id")) is not str or type(data.get("signal_id")) is not str:
        raise Rejected("not a signal: account_id and signal_id must be strings")
    return cast(Signal, data)
