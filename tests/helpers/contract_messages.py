"""Generated contract messages for the fast path's tests (tests/ingest/test_fast.py): for each
kind, valid messages with every field at and around its limits, in every spelling, and near
misses field by field; `messages` draws one, mutated or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

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
