"""convert() alone: one record in, a signal or a readable rejection out, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from services.ingest.convert import Accepted, Rejection, convert, input_kinds
from shared.config import Topics
from tests.helpers.ingest_examples import EXAMPLES, example, record

LATEST = datetime(2026, 11, 21, tzinfo=UTC)


def test_every_input_topic_has_its_kind() -> None:
    kinds = input_kinds(Topics())
    assert kinds == {
        "cs.product-usage": "usage",
        "cs.logins": "login",
        "cs.support": "support",
        "cs.surveys": "survey",
        "cs.accounts": "account",
        "cs.stakeholders": "stakeholder",
    }


def test_event_keeps_its_event_id_and_is_keyed_by_account() -> None:
    value = orjson.dumps(example("login", occurred_at="2026-11-20T11:58:00+02:00"))
    result = convert("login", record(value, "cs.logins"), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(result, Accepted)
    assert result.key == b"acme"
    signal = orjson.loads(result.value)
    assert signal["signal_id"] == "l-1"
    assert signal["occurred_at"] == "2026-11-20T09:58:00Z"
    assert signal["ts"] == datetime(2026, 11, 20, 9, 58, tzinfo=UTC).timestamp()


def test_a_survey_answer_becomes_a_signal_naming_its_respondent() -> None:
    value = orjson.dumps(example("survey", email="Dana@Acme.com"))
    result = convert("survey", record(value, "cs.surveys"), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(result, Accepted)
    signal = orjson.loads(result.value)
    assert {k: signal[k] for k in ("kind", "signal_id", "survey", "score", "email")} == {
        "kind": "survey",
        "signal_id": "n-1",
        "survey": "nps",
        "score": 9,
        "email": "dana@acme.com",
    }


def test_record_signal_id_is_its_position_and_time_so_redelivery_dedupes() -> None:
    value = orjson.dumps(EXAMPLES["account"])
    first = convert("account", record(value), max_bytes=1 << 20, latest=LATEST)
    again = convert("account", record(value), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(first, Accepted)
    assert first == again
    assert orjson.loads(first.value)["signal_id"] == "cs.accounts:2:7@0"
    # A replaced log starts its offsets over: a new record at an old position is not a copy.
    later = convert("account", record(value, timestamp=1), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(later, Accepted)
    assert orjson.loads(later.value)["signal_id"] == "cs.accounts:2:7@1"


def test_future_bound_is_the_given_latest() -> None:
    soon = (LATEST - timedelta(minutes=1)).isoformat()
    later = (LATEST + timedelta(minutes=1)).isoformat()
    ok = convert(
        "usage",
        record(orjson.dumps(example("usage", occurred_at=soon))),
        max_bytes=1 << 20,
        latest=LATEST,
    )
    late = convert(
        "usage",
        record(orjson.dumps(example("usage", occurred_at=later))),
        max_bytes=1 << 20,
        latest=LATEST,
    )
    assert isinstance(ok, Accepted)
    assert isinstance(late, Rejection)
    assert "occurred_at" in late.reason


def test_unexpected_error_becomes_a_rejection_naming_it() -> None:
    # A kind validation does not know is a bug upstream of the record, not in it: it must
    # still cost one dead letter, not the loop.
    result = convert("telepathy", record(b"{}"), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(result, Rejection)
    assert result.reason.startswith("KeyError")


def test_out_of_range_time_is_rejected_not_raised() -> None:
    value = orjson.dumps(example("usage", occurred_at="9999-12-31T23:59:59-01:00"))
    result = convert("usage", record(value), max_bytes=1 << 20, latest=LATEST)
    assert isinstance(result, Rejection)
    assert result.reason.startswith("occurred_at:")


def test_occurred_at_must_be_rfc_3339() -> None:
    from shared.contracts.messages import parse_event_time

    assert parse_event_time("2026-11-20t10:00:00.1234567z").isoformat() == (
        "2026-11-20T10:00:00.123456+00:00"
    )
    for text in (
        "2026-11-20 10:00:00Z",
        "20261120T100000Z",
        "2026-11-20T10Z",
        "2026-11-20T10:00:00+0100",
        "2026-11-20T10:00:00",
    ):
        try:
            parse_event_time(text)
        except ValueError:
            continue
        raise AssertionError(f"{text} was accepted")
