"""Hostile input, generated: whatever arrives on an input topic is either accepted per the
contract or rejected with a reason, and nothing accepted can crash scoring. The input goes
through ingest's convert() as ingest reads it (the fast path, then the models), and what it
accepts reaches scoring as scoring reads cs.signals."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.convert import Rejection, convert
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.packing import pack_account, unpack_account
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import load
from shared.contracts.inputs import MODELS, validate
from shared.contracts.messages import Rejected
from shared.contracts.signals import Signal, decode_signal
from tests.helpers.ingest_examples import record

KINDS = sorted(MODELS)
LIMIT = 1024 * 1024
LATEST = datetime.now(UTC) + timedelta(days=1)

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00",
            "9999-12-31T23:59:59-01:00",
            "1970-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
            "",
            "x" * 5000,
            "\udcff",
            "month",
            "absolute",
            "opened",
            "urgent",
            "left",
            "champion",
        ]
    ),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "event_id",
    "account_id",
    "occurred_at",
    "user_id",
    "feature",
    "metric",
    "value",
    "mode",
    "email",
    "title",
    "department",
    "ticket_id",
    "status",
    "priority",
    "category",
    "csat",
    "requested_feature",
    "requester_email",
    "name",
    "tier",
    "arr",
    "csm",
    "plan",
    "role",
    "renewal_date",
    "survey",
    "score",
    "comment",
]
valid_base = {
    "event_id": "e-1",
    "account_id": "acme",
    "occurred_at": "2026-11-20T10:00:00Z",
    "user_id": "u-1",
    "feature": "export",
    "ticket_id": "T-1",
    "status": "opened",
    "email": "dana@acme.com",
    "survey": "nps",
    "score": 7,
}
messages = st.fixed_dictionaries({}, optional={f: hostile_values for f in FIELDS}).map(
    lambda extra: {**valid_base, **extra}
)


def _accept_or_reject(kind: str, raw: bytes) -> Any:
    try:
        return validate(kind, raw, max_bytes=LIMIT, latest=LATEST)
    except Rejected as exc:
        assert exc.reason.strip()
        return None


def _converted(kind: str, raw: bytes) -> Signal | None:
    """What ingest makes of `raw` (None: a dead letter, with a reason), as scoring decodes it."""
    result = convert(kind, record(raw, topic=f"cs.{kind}"), max_bytes=LIMIT, latest=LATEST)
    if isinstance(result, Rejection):
        assert result.reason.strip()
        return None
    return decode_signal(result.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), raw=st.binary(max_size=2000))
def test_arbitrary_bytes_are_accepted_or_rejected_with_a_reason(kind: str, raw: bytes) -> None:
    _accept_or_reject(kind, raw)
    _converted(kind, raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), message=messages)
def test_nothing_accepted_can_crash_scoring(kind: str, message: dict[str, Any]) -> None:
    try:
        raw = orjson.dumps(message)
    except (TypeError, orjson.JSONEncodeError):  # e.g. lone surrogates: not JSON at all
        return
    signal = _converted(kind, raw)
    if signal is None:
        return
    if "ts" in signal:
        assert math.isfinite(signal["ts"])
    state = AccountState(signal["account_id"], 0)
    apply_signal(state, signal, load(None), DedupWindow(3600.0), arrived=0.0)
    score = state.health["score"]
    # No score only for an account named by a record alone, with the band that says so.
    assert (score is None) == (state.now == 0.0) == (state.health["band"] == "none")
    assert score is None or 0 <= score <= 100
    copy = unpack_account(state.account_id, 0, pack_account(state))
    assert copy.to_json() == state.to_json()


def test_deep_nesting_duplicate_keys_and_huge_values_are_handled() -> None:
    deep = b'{"event_id": "e", "account_id": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert _accept_or_reject("login", deep) is None
    twice = (
        b'{"event_id": "e", "account_id": "a", "account_id": "b", "user_id": "u", '
        b'"occurred_at": "2026-11-20T10:00:00Z"}'
    )
    assert _accept_or_reject("login", twice).account_id == "b"  # the last one wins
    huge = orjson.dumps({**valid_base, "title": "x" * (LIMIT + 1)})
    assert _accept_or_reject("login", huge) is None
    nan = (
        b'{"event_id": "e", "account_id": "a", "occurred_at": "2026-11-20T10:00:00Z", '
        b'"metric": "m", "value": NaN}'
    )
    assert _accept_or_reject("usage", nan) is None
