"""One input record in, one signal or one rejection out: pure, no I/O, never raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka.structs import ConsumerRecord

from services.ingest.fast import fast_signal
from shared.config import Topics
from shared.contracts.inputs import check
from shared.contracts.messages import Rejected, decode
from shared.contracts.signals import encode_signal, to_signal


@dataclass(frozen=True, slots=True)
class Accepted:
    """What to publish on cs.signals for a valid record: its key and the encoded signal."""

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
        topics.surveys: "survey",
        topics.accounts: "account",
        topics.stakeholders: "stakeholder",
    }


def record_id(record: ConsumerRecord) -> str:
    """Records carry no event_id; their position and timestamp are the same on every
    redelivery, so a record read twice yields the same signal_id and scoring drops the copy.
    The timestamp keeps ids apart across a replaced log (a broker that lost its data, a topic
    created again), whose offsets start over: a new record at an old offset is not a copy."""
    return f"{record.topic}:{record.partition}:{record.offset}@{record.timestamp}"


def convert(
    kind: str, record: ConsumerRecord, *, max_bytes: int, latest: datetime
) -> Accepted | Rejection:
    try:
        data = decode(record.value, max_bytes=max_bytes)
        signal_id = record_id(record)
        signal = fast_signal(kind, data, signal_id, latest)
        if signal is None:  # the models decide, and explain a rejection
            signal = to_signal(kind, check(kind, data, latest=latest), signal_id)
        return Accepted(key=signal["account_id"].encode(), value=encode_signal(signal))
    except Rejected as exc:
        return Rejection(exc.reason)
    except Exception as exc:
        # A bug in validation must cost one record, not stop the partition behind it.
        return Rejection(f"{type(exc).__name__}: {exc}")
