"""The fast path against the contract models, on generated messages.

The one property: convert() gives exactly what validation through the models alone gave,
the same signal bytes or the same rejection reason, for any value. Since convert() asks the
models whenever the fast path defers, this says that whatever the fast path accepts, the
models accept with the very same signal. The generated messages are valid ones (the
contract's fields, with values at and around every limit, in every spelling) with a few
mutations: junk or a near miss in a field, a missing field, unknown fields, keys given twice,
raw JSON numbers; and, field by field, each field's near misses.

That the fast path is taken at all is checked too: by every valid message generated, by the
forms real producers send, and by the bench workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bench.workload import build
from services.ingest import fast
from services.ingest.convert import Accepted, Rejection, convert, record_id
from services.ingest.fast import fast_signal
from shared.contracts.inputs import MODELS, Csm, Plan, validate
from shared.contracts.messages import Rejected, decode
from shared.contracts.signals import to_signal
from tests.helpers.ingest_examples import EXAMPLES, record
from tests.helpers.ingest_examples import example as contract_example

LIMIT = 1024 * 1024
LATEST = datetime(2026, 11, 21, tzinfo=UTC)
TOPICS = {
    "usage": "cs.product-usage",
    "login": "cs.logins",
    "support": "cs.support",
    "account": "cs.accounts",
    "stakeholder": "cs.stakeholders",
}


def by_models(kind: str, raw: bytes | None, latest: datetime) -> Accepted | Rejection:
    """convert() as it was before the fast path: the models decide everything."""
    try:
        message = validate(kind, raw, max_bytes=LIMIT, latest=latest)
        signal = to_signal(kind, message, record_id(record(raw, TOPICS[kind])))
        return Accepted(key=signal["account_id"].encode(), value=orjson.dumps(signal))
    except Rejected as exc:
        return Rejection(exc.reason)
    except Exception as exc:
        return Rejection(f"{type(exc).__name__}: {exc}")


def same_as_models(kind: str, raw: bytes, latest: datetime = LATEST) -> str:
    """Assert convert() decides `raw` as the models do; which path decided it."""
    got = convert(kind, record(raw, TOPICS[kind]), max_bytes=LIMIT, latest=latest)
    assert got == by_models(kind, raw, latest)
    if isinstance(got, Rejection):
        return "rejected"
    fast = fast_signal(kind, decode(raw, max_bytes=LIMIT), "t:0:0", latest)
    return "accepted by the models" if fast is None else "accepted fast"


# Values: for each field, valid ones (at its limits, in any script, with the whitespace and
# case the normalizations handle, in every JSON spelling) and near misses.

CHARS = st.characters(codec="utf-8") | st.sampled_from(  # no lone surrogates: not JSON
    " \t\n\u00a0\u2003AZaz\u0130\u00dfSs\u03a3\u00e9e\u0301@.\u4e2d\U0001f600\x00"
)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(CHARS, max_size=4),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
)


def mix(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Each strategy equally often, however many branches it has (| would flatten them)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


@dataclass(frozen=True)
class Raw:
    """A JSON literal written verbatim: numbers orjson would not write, or not this way."""

    text: bytes


@dataclass(frozen=True)
class Field:
    valid: st.SearchStrategy[Any]
    near: st.SearchStrategy[Any]  # near misses, mostly invalid


def sized(sizes: list[int]) -> st.SearchStrategy[str]:
    return st.sampled_from(sizes).flatmap(lambda n: st.text(CHARS, min_size=n, max_size=n))


def text(low: int, high: int) -> Field:
    valid = sized([low, low + 1, high - 1, high]) | st.text(CHARS, min_size=low, max_size=12)
    return Field(valid, mix(sized(([low - 1] if low else []) + [high + 1]), JUNK))


def raw(*texts: bytes) -> st.SearchStrategy[Raw]:
    return st.sampled_from([Raw(t) for t in texts])


def numbers(*, positive: bool) -> Field:
    low = 5e-324 if positive else 0
    valid = st.one_of(
        st.integers(int(positive), 10**6),
        st.floats(min_value=low, allow_nan=False, allow_infinity=False),
        st.sampled_from([low, 1, 1.5, 2**53 + 1, 2**63, 2**64 - 1, 1.7976931348623157e308]),
        raw(b"1E2", b"1.0", b"2.50", b"18446744073709551616", b"100000000000000000000000"),
    )
    zeros = raw(b"0", b"-0", b"0.0", b"-0.0", b"1e-400")
    negative = st.integers(-(2**63), -1) | st.floats(max_value=-5e-324, allow_infinity=False)
    near = [
        st.sampled_from([True, False, "1", "0", "1e3"]),
        negative,
        raw(b"1e999", b"-1e999", b"-9223372036854775809"),
        JUNK,
    ]
    if positive:
        return Field(valid, mix(zeros, *near))
    return Field(mix(valid, zeros), mix(*near))


def integers(low: int, high: int) -> Field:
    near = st.sampled_from([low - 1, high + 1, float(low), float(high), True, False, str(low)])
    return Field(st.integers(low, high), mix(near, raw(b"1.0", b"1e0", b"5.0"), JUNK))


def choices(*valid: str) -> Field:
    wrong = st.sampled_from(["week", "sometimes", "exploded", "overlord", "", None, 1, True])
    spelled = st.sampled_from([v.upper() for v in valid] + [f" {v}" for v in valid])
    return Field(st.sampled_from(valid), mix(wrong, spelled, JUNK))


SPACE = st.sampled_from(["", "", " ", "\t", "\u00a0", "\n ", "\u2003"])


def padded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(SPACE, text, SPACE).map("".join)


LOCAL = st.text(
    st.characters(codec="utf-8", exclude_characters=" @") | st.sampled_from("Aa\u0130\u00df.\t"),
    min_size=1,
    max_size=8,
)


@st.composite
def emails(draw: st.DrawFn, *, valid: bool = True) -> str:
    """name@domain with padding and any case, up to 320 characters with the padding; near
    misses lack a part, have a space, or are 321 or 322 characters long."""
    local, domain = draw(LOCAL), draw(LOCAL | st.just("ACME.com"))
    address = draw(padded(st.just(f"{local}@{domain}")))
    if valid:
        length = draw(st.sampled_from([0, 319, 320]))
    else:
        length = draw(st.sampled_from([0, 321, 322]))
        if not length:
            address = draw(
                st.sampled_from([local, f"@{domain}", f"{local}@", f"{local} x@{domain}"])
            )
    return "x" * max(length - len(address), 0) + address


EMAIL = Field(emails(), mix(emails(valid=False), JUNK))
ZONES = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def times(draw: st.DrawFn) -> str:
    """Valid RFC 3339 in every spelling: offsets, 0 to 9 fraction digits, t and z."""
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1, 1), max_value=datetime(2026, 12, 31), timezones=ZONES
        )
    )
    text = moment.replace(microsecond=0, tzinfo=None).isoformat()
    digits = draw(st.integers(0, 9))
    if digits:
        text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    offset = moment.isoformat()[-6:]
    text += draw(st.sampled_from(["Z", "z"])) if offset == "+00:00" else offset
    return text.replace("T", "t") if draw(st.integers(0, 9)) == 0 else text


@st.composite
def built_times(draw: st.DrawFn) -> str:
    """RFC 3339 by its parts, each part sometimes out of range or malformed."""
    year = draw(st.sampled_from([1999, 2000, 2026, 2027, 9999]) | st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute = draw(st.integers(0, 24)), draw(st.integers(0, 60))
    second = draw(st.integers(0, 61))
    separator = draw(st.sampled_from("TTTt "))
    fraction = draw(st.none() | st.text("0123456789", max_size=11))
    zone = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+0100", "+01"])
        | st.tuples(st.sampled_from("+-"), st.integers(0, 25), st.integers(0, 61)).map(
            lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}"
        )
    )
    text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
    return text + ("" if fraction is None else "." + fraction) + zone


EDGE_TIMES = [
    "2026-11-21T00:00:00Z",  # exactly LATEST
    "2026-11-21T00:00:00.000001Z",
    "2026-11-21T01:00:00+01:00",
    "1999-12-31T23:59:59-01:00",  # 2000-01-01T00:59:59Z
    "2000-01-01T00:00:00+00:01",  # a minute before 2000-01-01
    "2000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2026-11-20T10:00:00.000000Z",
    "\uff12\uff10\uff12\uff16-11-20T10:00:00Z",  # full-width digits
]
TIME = Field(mix(times(), st.sampled_from(EDGE_TIMES)), mix(built_times(), JUNK))
DATE = Field(
    st.dates().map(date.isoformat),
    mix(
        st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)).map(
            lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"
        ),
        st.sampled_from(["2027-3-1", "20270301", "2027-03-01T00:00:00", "2027-03-01T00:00:00Z"]),
        JUNK,
    ),
)
ID, TEXT, SLACK = text(1, 200), text(0, 500), text(1, 100)
DEPARTMENT = Field(padded(text(0, 190).valid) | text(0, 200).valid, text(0, 200).near)


def either(field: Field) -> st.SearchStrategy[Any]:
    return mix(field.valid, field.near)


def nested(fields: dict[str, Field]) -> Field:
    valid = st.fixed_dictionaries({}, optional={k: f.valid for k, f in fields.items()})
    near = st.fixed_dictionaries({}, optional={k: either(f) for k, f in fields.items()})
    return Field(valid, mix(near, JUNK))


LIMIT_NAMES = text(1, 200)
LIMITS = Field(
    mix(
        st.dictionaries(LIMIT_NAMES.valid, numbers(positive=True).valid, max_size=4),
        st.just({f"m{i}": 1 for i in range(200)}),
    ),
    mix(
        st.dictionaries(sized([0, 201]), st.just(1), min_size=1, max_size=2),
        st.dictionaries(LIMIT_NAMES.valid, numbers(positive=True).near, min_size=1, max_size=2),
        st.just({f"m{i}": 1 for i in range(201)}),
        JUNK,
    ),
)
LABEL_NAMES = text(1, 100)
LABELS = Field(
    mix(
        st.dictionaries(LABEL_NAMES.valid, TEXT.valid, max_size=4),
        st.just({f"l{i}": "x" for i in range(50)}),
    ),
    mix(
        st.dictionaries(sized([0, 101]), st.just("x"), min_size=1, max_size=2),
        st.dictionaries(LABEL_NAMES.valid, TEXT.near, min_size=1, max_size=2),
        st.just({f"l{i}": "x" for i in range(51)}),
        JUNK,
    ),
)
EVENT = {"event_id": ID, "account_id": ID, "occurred_at": TIME}
MODE = choices("delta", "absolute")
NESTED = {
    "csm": {"name": TEXT, "email": EMAIL, "slack": SLACK},
    "plan": {"name": TEXT, "period": choices("month", "year"), "limits": LIMITS},
}
STATUS = choices("opened", "updated", "solved", "closed", "reopened")
# Each kind's valid shapes: (required, optional) fields.
SHAPES: dict[str, list[tuple[dict[str, Field], dict[str, Field]]]] = {
    "usage": [
        ({**EVENT, "feature": ID}, {"user_id": ID, "mode": MODE}),
        (
            {**EVENT, "metric": ID, "value": numbers(positive=False)},
            {"user_id": ID, "feature": ID, "mode": MODE},
        ),
    ],
    "login": [
        ({**EVENT, "user_id": ID}, {"email": EMAIL, "title": TEXT, "department": DEPARTMENT})
    ],
    "support": [
        (
            {**EVENT, "ticket_id": ID, "status": STATUS},
            {
                "priority": choices("low", "normal", "high", "urgent"),
                "category": choices("bug", "question", "feature_request", "billing", "other"),
                "requested_feature": TEXT,
                "csat": integers(1, 5),
                "requester_email": EMAIL,
            },
        )
    ],
    "account": [
        (
            {"account_id": ID},
            {
                "name": TEXT,
                "tier": integers(0, 1000),
                "arr": numbers(positive=False),
                "csm": nested(NESTED["csm"]),
                "plan": nested(NESTED["plan"]),
                "renewal_date": DATE,
                "start_date": DATE,
                "segment": TEXT,
                "labels": LABELS,
                "crm_url": TEXT,
            },
        )
    ],
    "stakeholder": [
        (
            {"account_id": ID, "email": EMAIL},
            {
                "name": TEXT,
                "title": TEXT,
                "department": DEPARTMENT,
                "role": choices("champion", "economic_buyer", "executive_sponsor", "admin", "user"),
                "status": choices("active", "left"),
            },
        )
    ],
}
# Fields no model knows, some named like what a signal carries.
UNKNOWN = st.sampled_from(["added_in_v2", "kind", "signal_id", "ts", "Account_ID", ""])
ANYTHING = st.recursive(
    JUNK | numbers(positive=False).near, lambda inner: st.lists(inner, max_size=3), max_leaves=4
)


def encode(pairs: list[tuple[str, Any]]) -> bytes:
    """A JSON object from (key, value) pairs, keys possibly repeated, Raw values verbatim."""

    def value(v: Any) -> bytes:
        if isinstance(v, Raw):
            return v.text
        if isinstance(v, list):
            return b"[" + b",".join(value(item) for item in v) + b"]"
        if isinstance(v, dict):
            return encode(list(v.items()))
        return orjson.dumps(v)

    return b"{" + b",".join(orjson.dumps(k) + b":" + value(v) for k, v in pairs) + b"}"


def fields_of(kind: str) -> dict[str, Field]:
    return {name: f for shape in SHAPES[kind] for part in shape for name, f in part.items()}


def near_targets(kind: str) -> list[str]:
    """Every field of the kind, nested ones as outer.inner."""
    names = list(fields_of(kind))
    return names + [f"{n}.{inner}" for n in names if n in NESTED for inner in NESTED[n]]


@st.composite
def messages(draw: st.DrawFn, kind: str, near: str | None = None, mutate: bool = True) -> bytes:
    """A valid message of this kind in any key order, with up to two mutations (or none,
    unless `mutate`), or with a near miss in the field `near`."""
    required, optional = draw(st.sampled_from(SHAPES[kind]))
    fields = fields_of(kind)
    message = st.fixed_dictionaries(
        {k: f.valid for k, f in required.items()},
        optional={k: f.valid for k, f in optional.items()},
    )
    pairs = list(draw(message).items())
    if near is not None:
        outer, _, inner = near.partition(".")
        if inner:
            value = {**draw(fields[outer].valid), inner: draw(NESTED[outer][inner].near)}
        else:
            value = draw(fields[outer].near)
        return encode([*draw(st.permutations(pairs)), (outer, value)])
    for _ in range(draw(st.integers(0, 2)) if mutate else 0):
        mutation = draw(st.sampled_from(["near", "junk", "drop", "twice", "unknown"]))
        name = draw(st.sampled_from(sorted(fields)))
        if mutation == "near":  # appended: the last of a key given twice wins
            pairs.append((name, draw(fields[name].near)))
        elif mutation == "junk":
            pairs.append((name, draw(ANYTHING)))
        elif mutation == "drop":
            pairs = [(k, v) for k, v in pairs if k != name]
        elif mutation == "twice":  # the same key again, valid or not, anywhere
            at = draw(st.integers(0, len(pairs)))
            pairs.insert(at, (name, draw(either(fields[name]))))
        else:
            pairs.append((draw(UNKNOWN | st.text(max_size=3)), draw(ANYTHING)))
    return encode(draw(st.permutations(pairs)))


FAR = datetime(2027, 1, 1, tzinfo=UTC)  # after every valid time generated
LATESTS = st.sampled_from([FAR, FAR, FAR, LATEST]) | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=FAR.replace(tzinfo=None), timezones=st.just(UTC)
)
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", sorted(SHAPES))
@PROPERTY
@given(data=st.data(), latest=LATESTS)
def test_convert_decides_and_explains_as_the_models_do(
    kind: str, data: st.DataObject, latest: datetime
) -> None:
    event(same_as_models(kind, data.draw(messages(kind)), latest))


@pytest.mark.parametrize(
    ("kind", "name"), [(k, n) for k in sorted(SHAPES) for n in near_targets(k)]
)
@settings(PROPERTY, max_examples=80)
@given(data=st.data())
def test_each_field_s_near_misses_are_decided_as_the_models_do(
    kind: str, name: str, data: st.DataObject
) -> None:
    event(same_as_models(kind, data.draw(messages(kind, near=name)), FAR))


@settings(PROPERTY, max_examples=300)
@given(kind=st.sampled_from(sorted(SHAPES)), data=st.data())
def test_valid_messages_take_the_fast_path(kind: str, data: st.DataObject) -> None:
    # Valid in every spelling generated: the models accept nothing the fast path defers.
    outcome = same_as_models(kind, data.draw(messages(kind, mutate=False)), FAR)
    assert outcome != "accepted by the models"
    event(outcome)


@PROPERTY
@given(kind=st.sampled_from(sorted(SHAPES)), raw=st.binary(max_size=300))
@example(kind="login", raw=b'{"event_id": "e", "x": ' + b"[" * 1100 + b"]" * 1100 + b"}")
def test_arbitrary_bytes_are_decided_as_the_models_do(kind: str, raw: bytes) -> None:
    same_as_models(kind, raw)


def test_the_fast_path_and_these_tests_know_every_field_of_the_models() -> None:
    # A field added to a model and not here would be dropped from the fast path's signals.
    specs = {**fast.EVENTS, **fast.RECORDS, "csm": fast.CSM, "plan": fast.PLAN}
    models = {**MODELS, "csm": Csm, "plan": Plan}
    head = ["event_id", "account_id", "occurred_at"]
    for name, model in models.items():
        spec = [field for field, *_ in specs[name]]
        assert (head + spec if name in fast.EVENTS else spec) == list(model.model_fields)
        tested = NESTED[name] if name in NESTED else fields_of(name)
        assert sorted(tested) == sorted(model.model_fields)


# The forms real producers send take the fast path.

UNICODE = "Zoë 中文 😀"


def fast_variants() -> list[tuple[str, dict[str, Any]]]:
    variants = [(kind, contract_example(kind, added_in_v2={"x": [1, None]})) for kind in EXAMPLES]
    for occurred_at in (
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.123Z",
        "2026-11-20T10:00:00.123456+05:30",
        "2026-11-20T10:00:00-08:00",
        "2026-11-21T00:00:00Z",
    ):
        variants.append(("usage", contract_example("usage", occurred_at=occurred_at)))
    variants += [
        ("usage", contract_example("usage", value=0, metric="x" * 200, user_id=UNICODE)),
        ("usage", contract_example("usage", value=2.5e9, mode="absolute", feature="f")),
        ("login", contract_example("login", email=" Dana@ACME.com ", department=" Ops ")),
        ("login", contract_example("login", title="", email=None, department=None)),
        ("support", contract_example("support", status="solved", csat=5, category=None)),
        ("account", contract_example("account", csm={}, plan={}, tier=1000, arr=0.0)),
        ("account", contract_example("account", plan={"period": "year", "limits": {"s": 1e-9}})),
        ("stakeholder", contract_example("stakeholder", role="admin", status="left", name=UNICODE)),
        ("stakeholder", {"account_id": "a", "email": "a@b"}),
    ]
    return variants


@pytest.mark.parametrize(("kind", "message"), fast_variants())
def test_common_forms_take_the_fast_path(kind: str, message: dict[str, Any]) -> None:
    raw = orjson.dumps(message)
    assert same_as_models(kind, raw) == "accepted fast"


def test_the_bench_workload_takes_the_fast_path() -> None:
    workload = build(50, 1000, seed=3, end=LATEST - timedelta(hours=1))
    kinds = {"product_usage": "usage", "logins": "login", "support": "support"}
    kinds |= {"accounts": "account", "stakeholders": "stakeholder"}
    for message in workload.messages:
        kind, raw = kinds[message.topic], message.encode()
        assert same_as_models(kind, raw) == "accepted fast"
