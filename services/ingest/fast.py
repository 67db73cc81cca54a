"""Accept fast, explain slowly: the signal for a decoded input message, checked by hand.

The contract models (shared.contracts.inputs) decide every message and explain each rejection,
but validating and dumping through pydantic would cost most of ingest's CPU. Valid messages,
nearly all of them, need no explanation, so this module checks them directly on orjson's output
and builds the signal itself. It returns None for anything it cannot vouch for, and the models
then decide that message exactly as before. So it may defer whatever it likes, but whatever it
accepts must give the very signal the models give: tests/ingest/test_fast.py checks that on
generated input.

Everything here relies on orjson's output: exact builtin types, str keys, finite floats,
integers of at most 64 bits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal, cast, get_args, get_origin

from pydantic import BaseModel

from shared.contracts.inputs import Plan, StakeholderFields, SupportEvent, UsageEvent
from shared.contracts.messages import EARLIEST, RFC3339, lowered, valid_email
from shared.contracts.signals import Signal

FAIL: Any = object()  # what a check returns for a value it does not accept
Check = Callable[[Any], Any]  # a value in, its normalized form (or FAIL) out
# (name, check, default when absent, absent or null means left out of the signal)
Field = tuple[str, Check, Any, bool]


def text(low: int, high: int) -> Check:
    def check(value: Any) -> Any:
        return value if type(value) is str and low <= len(value) <= high else FAIL

    return check


def choice(model: type[BaseModel], name: str) -> Check:
    """A Literal field's check, with the values read from the model: they cannot drift apart."""
    annotation = model.model_fields[name].annotation
    literal = next(a for a in (annotation, *get_args(annotation)) if get_origin(a) is Literal)
    allowed = frozenset(get_args(literal))

    def check(value: Any) -> Any:
        # The type first: a list or dict is not hashable.
        return value if type(value) is str and value in allowed else FAIL

    return check


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> Any:
        return value if type(value) is int and low <= value <= high else FAIL  # not bool

    return check


# pydantic's strict float takes ints (not bools) and gives floats; orjson's ints (64 bits)
# all fit a float, and its floats are all finite.
NUMBER = (float, int)


def non_negative(value: Any) -> Any:
    return float(value) if type(value) in NUMBER and value >= 0 else FAIL


def positive(value: Any) -> Any:
    return float(value) if type(value) in NUMBER and value > 0 else FAIL


def email(value: Any) -> Any:
    # The length limit applies before trimming, as in the model.
    if type(value) is not str or len(value) > 320:
        return FAIL
    try:
        return valid_email(value)
    except ValueError:
        return FAIL


def department(value: Any) -> Any:
    return lowered(value) if type(value) is str and len(value) <= 200 else FAIL


DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def calendar_date(value: Any) -> Any:
    # Only the plain YYYY-MM-DD form; pydantic's other date inputs take the slow path.
    if type(value) is not str or not DATE.fullmatch(value):
        return FAIL
    try:
        date.fromisoformat(value)
    except ValueError:
        return FAIL
    return value


def fields(data: dict[str, Any], spec: tuple[Field, ...], into: dict[str, Any]) -> bool:
    """Check `data` against `spec` into `into`, in the spec's (the model's) order."""
    for name, check, default, optional in spec:
        value = data.get(name, default)
        if value is None and optional:
            continue
        value = check(value)
        if value is FAIL:
            return False
        into[name] = value
    return True


def nested(spec: tuple[Field, ...]) -> Check:
    def check(value: Any) -> Any:
        body: dict[str, Any] = {}
        return body if type(value) is dict and fields(value, spec, body) else FAIL

    return check


ID, NAME, TEXT = text(1, 200), text(1, 200), text(0, 500)


def limits(value: Any) -> Any:
    if type(value) is not dict or len(value) > 200:
        return FAIL
    checked = {}
    for key, limit in value.items():  # orjson's keys are all str
        if not 0 < len(key) <= 200 or type(limit) not in NUMBER or limit <= 0:
            return FAIL
        checked[key] = float(limit)
    return checked


def labels(value: Any) -> Any:
    if type(value) is not dict or len(value) > 50:
        return FAIL
    for key, label in value.items():  # orjson's keys are all str
        if not 0 < len(key) <= 100 or type(label) is not str or len(label) > 500:
            return FAIL
    return value


def required(name: str, check: Check) -> Field:
    return (name, check, None, False)


def optional(name: str, check: Check) -> Field:
    return (name, check, None, True)


def defaulted(name: str, check: Check, default: Any) -> Field:
    return (name, check, default, False)


USAGE = (
    optional("user_id", ID),
    optional("feature", NAME),
    optional("metric", NAME),
    optional("value", non_negative),
    defaulted("mode", choice(UsageEvent, "mode"), "delta"),
)
LOGIN = (
    required("user_id", ID),
    optional("email", email),
    optional("title", TEXT),
    optional("department", department),
)
SUPPORT = (
    required("ticket_id", ID),
    required("status", choice(SupportEvent, "status")),
    optional("priority", choice(SupportEvent, "priority")),
    optional("category", choice(SupportEvent, "category")),
    optional("requested_feature", TEXT),
    optional("csat", integer(1, 5)),
    optional("requester_email", email),
)
CSM = (optional("name", TEXT), optional("email", email), optional("slack", text(1, 100)))
PLAN = (
    optional("name", TEXT),
    defaulted("period", choice(Plan, "period"), "month"),
    defaulted("limits", limits, {}),
)
ACCOUNT = (
    optional("name", TEXT),
    optional("tier", integer(0, 1000)),
    optional("arr", non_negative),
    optional("csm", nested(CSM)),
    optional("plan", nested(PLAN)),
    optional("renewal_date", calendar_date),
    optional("start_date", calendar_date),
    optional("segment", TEXT),
    optional("labels", labels),
    optional("crm_url", TEXT),
    required("account_id", ID),
)
STAKEHOLDER = (
    optional("name", TEXT),
    optional("title", TEXT),
    optional("department", department),
    defaulted("role", choice(StakeholderFields, "role"), "user"),
    defaulted("status", choice(StakeholderFields, "status"), "active"),
    required("account_id", ID),
    required("email", email),
)
EVENTS = {"usage": USAGE, "login": LOGIN, "support": SUPPORT}
RECORDS = {"account": ACCOUNT, "stakeholder": STAKEHOLDER}
# Kinds the models always decide: a survey answer is one per respondent and quarter, too rare
# to be worth a hand-written check.
DEFERRED = frozenset({"survey"})


def event_time(value: Any) -> tuple[str, datetime] | None:
    """occurred_at read as parse_event_time reads it, without its costly re.sub, and written
    as pydantic writes the UTC datetime: with Z, and microseconds only when there are some."""
    match = RFC3339.fullmatch(value) if type(value) is str else None
    if match is None:
        return None
    fraction = match[1]
    if fraction is not None and len(fraction) > 7:  # Python reads at most microseconds
        value = value[:26] + value[19 + len(fraction) :]
    value = value.upper()
    try:
        moment = datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if moment < EARLIEST:
        return None
    # The common YYYY-MM-DDThh:mm:ssZ is written as it came: isoformat costs a microsecond.
    written = value if len(value) == 20 else moment.isoformat().removesuffix("+00:00") + "Z"
    return written, moment


def feature_or_metric(usage: dict[str, Any]) -> bool:
    metric = "metric" in usage
    return ("feature" in usage or metric) and metric == ("value" in usage)


def event_signal(kind: str, data: dict[str, Any], latest: datetime) -> dict[str, Any] | None:
    event_id, account_id = ID(data.get("event_id")), ID(data.get("account_id"))
    time = event_time(data.get("occurred_at"))
    if event_id is FAIL or account_id is FAIL or time is None or time[1] > latest:
        return None
    written, moment = time
    signal = {
        "kind": kind,
        "signal_id": event_id,
        "event_id": event_id,
        "account_id": account_id,
        "occurred_at": written,
    }
    if not fields(data, EVENTS[kind], signal):
        return None
    if kind == "usage" and not feature_or_metric(signal):
        return None
    signal["ts"] = moment.timestamp()
    return signal


def fast_signal(kind: str, data: dict[str, Any], record_id: str, latest: datetime) -> Signal | None:
    """The signal shared.contracts.signals.to_signal would give for this decoded message, or
    None when the contract models must decide it."""
    if kind in EVENTS:
        return cast(Signal | None, event_signal(kind, data, latest))
    spec = RECORDS.get(kind)
    signal = {"kind": kind, "signal_id": record_id}
    return cast(Signal, signal) if spec is not None and fields(data, spec, signal) else None
