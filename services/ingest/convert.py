"""One input record in, one signal or one rejection out: pure, no I/O, never raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka.structs import ConsumerRecord

from shared.config import Topics
from shared.events import Rejected, to_signal, validate


@dataclass(frozen=True, slots=True)
class Signal:
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str


def input_kinds(topics: Topics) -> dict[str, str]:
    """Input topic name -> the message kind it carries."""
    return {
        topics.product_usage: "usage",
        topics.logins: "login",
        topics.support: "support",
        topics.accounts: "account",
        topics.stakeholders: "stakeholder",
    }


def record_id(record: ConsumerRecord) -> str:
    # Records carry no event_id; their position is stable across redeliveries, so a record
    # read twice yields the same signal_id and scoring drops the copy.
    return f"{record.topic}:{record.partition}:{record.offset}"


def convert(
    kind: str, record: ConsumerRecord, *, max_bytes: int, latest: datetime
) -> Signal | Rejection:
    try:
        message = validate(kind, record.value, max_bytes=max_bytes, latest=latest)
        signal = to_signal(kind, message, record_id(record))
        return Signal(key=signal["account_id"].encode(), value=orjson.dumps(signal))
    except Rejected as exc:
        return Rejection(exc.reason)
    except Exception as exc:
        # A bug in validation must cost one record, not stop the partition behind it.
        return Rejection(f"{type(exc).__name__}: {exc}")
