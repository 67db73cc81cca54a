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

from datetime import UTC, datetime, timedelta
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
from tests.helpers.contract_messages import NESTED, SHAPES, fields_of, messages, near_targets
from tests.helpers.ingest_examples import EXAMPLES, record
from tests.helpers.ingest_examples import example as contract_example

LIMIT = 1024 * 1024
LATEST = datetime(2026, 11, 21, tzinfo=UTC)
TOPICS = {
    "usage": "cs.product-usage",
    "login": "cs.logins",
    "support": "cs.support",
    "survey": "cs.surveys",
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
    assert set(models) - set(specs) == fast.DEFERRED
    for name, model in models.items():
        if name in fast.DEFERRED:
            continue
        spec = [field for field, *_ in specs[name]]
        assert (head + spec if name in fast.EVENTS else spec) == list(model.model_fields)
        tested = NESTED[name] if name in NESTED else fields_of(name)
        assert sorted(tested) == sorted(model.model_fields)


# The forms real producers send take the fast path.

UNICODE = "Zoë 中文 😀"


def fast_variants() -> list[tuple[str, dict[str, Any]]]:
    variants = [
        (kind, contract_example(kind, added_in_v2={"x": [1, None]}))
        for kind in EXAMPLES
        if kind not in fast.DEFERRED
    ]
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


def test_deferred_kinds_are_decided_by_the_models() -> None:
    for kind in fast.DEFERRED:
        assert (
            same_as_models(kind, orjson.dumps(contract_example(kind))) == "accepted by the models"
        )
        broken = orjson.dumps(contract_example(kind, account_id=""))
        assert same_as_models(kind, broken) == "rejected"


def test_the_bench_workload_takes_the_fast_path() -> None:
    workload = build(50, 1000, seed=3, end=LATEST - timedelta(hours=1))
    kinds = {"product_usage": "usage", "logins": "login", "support": "support"}
    kinds |= {"accounts": "account", "stakeholders": "stakeholder"}
    for message in workload.messages:
        kind, raw = kinds[message.topic], message.encode()
        assert same_as_models(kind, raw) == "accepted fast"
