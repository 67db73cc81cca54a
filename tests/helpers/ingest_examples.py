"""The contract's example messages, one per input kind, and ways to break them."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

EXAMPLES: dict[str, dict[str, Any]] = {
    "usage": {
        "event_id": "u-2",
        "account_id": "acme",
        "occurred_at": "2026-11-20T10:00:05Z",
        "metric": "api_calls",
        "value": 1200,
        "mode": "delta",
    },
    "login": {
        "event_id": "l-1",
        "account_id": "acme",
        "occurred_at": "2026-11-20T09:58:00Z",
        "user_id": "u-17",
        "email": "dana@acme.com",
        "title": "VP Operations",
        "department": "operations",
    },
    "support": {
        "event_id": "s-1",
        "account_id": "acme",
        "occurred_at": "2026-11-20T11:00:00Z",
        "ticket_id": "T-100",
        "status": "opened",
        "priority": "urgent",
        "category": "bug",
        "requester_email": "dana@acme.com",
    },
    "survey": {
        "event_id": "n-1",
        "account_id": "acme",
        "occurred_at": "2026-11-20T12:00:00Z",
        "email": "dana@acme.com",
        "survey": "nps",
        "score": 9,
        "comment": "love the exports",
    },
    "account": {
        "account_id": "acme",
        "name": "Acme Corp",
        "tier": 1,
        "arr": 120000,
        "csm": {"name": "Sam Lee", "email": "sam@vendor.example", "slack": "U024BE7LH"},
        "plan": {
            "name": "Growth",
            "period": "month",
            "limits": {"seats": 50, "api_calls": 100000, "storage_gb": 200},
        },
        "renewal_date": "2027-03-01",
    },
    "stakeholder": {
        "account_id": "acme",
        "email": "dana@acme.com",
        "name": "Dana Ruiz",
        "title": "VP Operations",
        "department": "operations",
        "role": "champion",
        "status": "active",
    },
}

EVENT_KINDS = ("usage", "login", "support", "survey")

# Topics fields of shared.config.Topics, by kind.
TOPIC_FIELDS = {
    "usage": "product_usage",
    "login": "logins",
    "support": "support",
    "survey": "surveys",
    "account": "accounts",
    "stakeholder": "stakeholders",
}

MIB = 1024 * 1024
DROP = object()


def example(kind: str, **changes: Any) -> dict[str, Any]:
    """The kind's example with fields replaced (or removed, with the value DROP)."""
    message = {**EXAMPLES[kind], **changes}
    return {k: v for k, v in message.items() if v is not DROP}


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def with_raw_field(message: dict[str, Any], name: str, raw: bytes) -> bytes:
    """The message as JSON with one more field written verbatim (for NaN and friends)."""
    return encode(message)[:-1] + b',"' + name.encode() + b'":' + raw + b"}"


def bad_inputs(kind: str) -> list[tuple[str, bytes | None, str]]:
    """(case, value, a word the dead-letter reason must contain) for every way to break
    a message of this kind; each case stands for a real producer bug."""
    base = EXAMPLES[kind]
    cases: list[tuple[str, bytes | None, str]] = [
        ("not json", b"hello, world", "JSON"),
        ("invalid utf-8", b'{"account_id": "acme\xff\xfe"}', "UTF-8"),
        ("json array", b'[{"account_id": "acme"}]', "object"),
        ("null value", None, "empty"),
        ("nan", with_raw_field(base, "value", b"NaN"), "JSON"),
        ("infinity", with_raw_field(base, "value", b"Infinity"), "JSON"),
        ("huge number", with_raw_field(base, "value", b"1e999"), "infinity"),
        ("over 1 MiB", encode({**base, "padding": "x" * MIB}), "byte"),
        ("missing account_id", encode(example(kind, account_id=DROP)), "account_id"),
        ("empty account_id", encode(example(kind, account_id="")), "account_id"),
        ("account_id a number", encode(example(kind, account_id=42)), "account_id"),
        # PostgreSQL text holds no NUL: accepted, it would fail every flush of scoring.
        ("NUL in account_id", encode(example(kind, account_id="ac\x00me")), "account_id: text"),
        ("NUL in an unknown field", encode({**base, "note": ["ok", "\x00"]}), "note[1]"),
    ]
    if kind in EVENT_KINDS:
        cases += [
            ("missing event_id", encode(example(kind, event_id=DROP)), "event_id"),
            ("missing occurred_at", encode(example(kind, occurred_at=DROP)), "occurred_at"),
            ("no offset", encode(example(kind, occurred_at="2026-11-20T10:00:00")), "occurred_at"),
            (
                "far future",
                encode(example(kind, occurred_at="2099-01-01T00:00:00Z")),
                "occurred_at",
            ),
            ("bad date", encode(example(kind, occurred_at="2026-13-45T10:00:00Z")), "occurred_at"),
            (
                "overflowing offset",
                encode(example(kind, occurred_at="9999-12-31T23:59:59-01:00")),
                "occurred_at",
            ),
        ]
    cases += {
        "usage": [
            ("value a string", encode(example(kind, value="12")), "value"),
            ("negative value", encode(example(kind, value=-1)), "value"),
            ("value a boolean", encode(example(kind, value=True)), "value"),
            ("unknown mode", encode(example(kind, mode="sometimes")), "mode"),
            ("no feature or metric", encode(example(kind, metric=DROP, value=DROP)), "feature"),
        ],
        "login": [
            ("missing user_id", encode(example(kind, user_id=DROP)), "user_id"),
            ("bad email", encode(example(kind, email="dana")), "email"),
        ],
        "support": [
            ("missing ticket_id", encode(example(kind, ticket_id=DROP)), "ticket_id"),
            ("missing status", encode(example(kind, status=DROP)), "status"),
            ("unknown status", encode(example(kind, status="exploded")), "status"),
            ("csat 9", encode(example(kind, status="solved", csat=9)), "csat"),
            ("csat a string", encode(example(kind, status="solved", csat="5")), "csat"),
        ],
        "survey": [
            ("no respondent", encode(example(kind, email=DROP)), "user_id or email"),
            ("unknown survey", encode(example(kind, survey="ces")), "survey"),
            ("nps 11", encode(example(kind, score=11)), "0..10"),
            ("csat 0", encode(example(kind, survey="csat", score=0)), "1..5"),
            ("score a string", encode(example(kind, score="9")), "score"),
            ("score a fraction", encode(example(kind, score=8.5)), "score"),
        ],
        "account": [
            ("tier a string", encode(example(kind, tier="1")), "tier"),
            ("negative arr", encode(example(kind, arr=-5)), "arr"),
            ("unknown period", encode(example(kind, plan={"period": "week"})), "plan.period"),
        ],
        "stakeholder": [
            ("missing email", encode(example(kind, email=DROP)), "email"),
            ("unknown role", encode(example(kind, role="overlord")), "role"),
            ("unknown status", encode(example(kind, status="exploded")), "status"),
        ],
    }[kind]
    return cases


def record(
    value: bytes | None, topic: str = "cs.accounts", offset: int = 7, timestamp: int = 0
) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=2,
        offset=offset,
        timestamp=timestamp,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=len(value or b""),
        headers=(),
    )
