"""Schemathesis against the API's own OpenAPI document (issue 4): every operation, fuzzed with
valid and invalid input on the real scoring service (the session's broker, the run's
PostgreSQL), as each kind of caller. No answer is a 5xx; every answer's status, headers,
content type and body are ones the document declares; and what a route does for a token, it
refuses without one."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import login, usage
from harness.waiting import wait_for
from services.alerts import repository
from services.alerts.tables import silences
from services.cli import UpSettings
from services.scoring import tokens
from services.scoring.api.admission import SIGNED_ELSEWHERE, is_protected
from services.scoring.tables import triggers
from services.scoring.triggers.rules import trigger_id_of
from shared.clock import utcnow
from shared.contracts.triggers import TriggerEvent
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer

# Schemathesis' generators draw from `random` (Hypothesis seeds it, so runs stay repeatable).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)

# Examples per operation and caller: enough to reach every route's answers (`reached` checks
# that they did), few enough that the file runs in seconds. The slow job (`-m slow`) draws
# many more, for the rarer inputs a short run does not reach.
MAX_EXAMPLES = 20
SLOW_MAX_EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A route that answers 2xx with a token must refuse the same request without one, and
    # with an invalid one.
    ignored_auth,
]
# Every route of docs/contract.md, section 7: none may be missing from the document.
OPERATIONS = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "PUT /v1/accounts/{account_id}",
    "GET /v1/accounts/{account_id}",
    "GET /v1/accounts",
    "GET /v1/accounts/{account_id}/health",
    "GET /v1/accounts/{account_id}/history",
    "PUT /v1/accounts/{account_id}/stakeholders/{email}",
    "GET /v1/accounts/{account_id}/stakeholders",
    "GET /v1/triggers",
    "GET /v1/triggers/{trigger_id}",
    "POST /v1/silences",
    "GET /v1/silences",
    "GET /v1/silences/{silence_id}",
    "DELETE /v1/silences/{silence_id}",
    "GET /v1/alerts",
    "POST /v1/alerts/{trigger_id}/ack",
    "POST /v1/alerts/{trigger_id}/snooze",
    "POST /v1/slack/interactions",
}
CALLERS = ["write token", "read token", "no token", "unknown token"]
# The API serves /metrics, behind its guard, when PULSE_METRICS_PORT is unset (as here).
GUARDED_TOO = frozenset({"/metrics"})
# An account with a record, a stakeholder, usage and a trigger, so that reads answer 200 with
# every part of their schema filled, not only 404 for the ids Hypothesis makes up.
SEEDED = {
    "account_id": "acme",
    "email": "dana@acme.com",
    "trigger_id": trigger_id_of("acme:plan_limit_80:api_calls:2026-09"),
    "silence_id": "5ee0c3e5-0000-4000-8000-000000000001",
}


@dataclass
class Fuzzed:
    operations: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


def operations_of(document: dict[str, Any]) -> list[schemathesis.APIOperation]:
    """The document's operations; one that schemathesis cannot read fails the test."""
    found = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def seeded(operation: schemathesis.APIOperation) -> dict[str, str]:
    return {name: value for name, value in SEEDED.items() if f"{{{name}}}" in operation.path}


def fuzz(
    document: dict[str, Any], base_url: str, headers: dict[str, str], max_examples: int
) -> Fuzzed:
    """Every operation of the document, with schemathesis' positive and negative cases. It
    blocks (requests), so it runs in a thread beside the service's event loop."""
    fuzzed = Fuzzed()
    session = requests.Session()
    for operation in operations_of(document):
        label = operation.label
        fuzzed.operations.append(label)
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=seeded(operation)),
        )

        @given(case=strategy)
        @settings(
            max_examples=max_examples,
            derandomize=True,  # the same cases on every run: CI is repeatable
            database=None,
            deadline=None,  # a PUT waits for scoring to apply it
            suppress_health_check=[HealthCheck.too_slow],
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, session=session, headers=headers)
            fuzzed.statuses[label].add(response.status_code)  # noqa: B023 (called right below)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            check()
        except (Exception, FailureGroup) as exc:  # FailureGroup is a BaseExceptionGroup
            fuzzed.failures.append(f"{label}: {exc}")
    return fuzzed


def reached(caller: str, operation: str) -> Callable[[int], bool]:
    """The answer each operation must give a caller at least once: proof that the fuzzing
    got where it should (into the routes with a token, to the guard without), not only to
    422s."""
    method, path = operation.split(" ")
    if path in SIGNED_ELSEWHERE:  # no signing secret here: the route is off
        return lambda status: status == 404
    if not is_protected(path, GUARDED_TOO):
        return lambda status: status == 200
    if caller in ("no token", "unknown token"):
        return lambda status: status == 401
    if caller == "read token" and method in ("PUT", "POST", "DELETE"):
        return lambda status: status == 403
    return lambda status: 200 <= status < 300


@asynccontextmanager
async def seeded_api(
    settings: UpSettings, engine: AsyncEngine, send: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, dict[str, str]]]]:
    """The scoring API with SEEDED in place; yields it with the headers of each caller."""
    async with scoring(settings, engine) as api:
        writer = await tokens.create_token(engine, "ops", tokens.WRITE)
        reader = await tokens.create_token(engine, "dashboard", tokens.READ)
        account = {"name": "Acme Corp", "plan": {"limits": {"api_calls": 100000, "seats": 10}}}
        put = await api.put("/v1/accounts/acme", json=account, headers=bearer(writer))
        assert put.status_code == 200, put.text
        person = {"name": "Dana Ruiz", "department": "Operations", "role": "champion"}
        path = "/v1/accounts/acme/stakeholders/dana@acme.com"
        assert (await api.put(path, json=person, headers=bearer(writer))).status_code == 200
        await send(
            login("acme", "u-17", 0, email="dana@acme.com"),
            *(usage("acme", 0.1 * i, metric="api_calls", value=21_000) for i in range(5)),
        )

        async def fired() -> bool:
            answer = await api.get("/v1/triggers?account_id=acme", headers=bearer(writer))
            return bool(answer.json()["triggers"])

        await wait_for(fired, what="acme's plan_limit_80")
        async with engine.begin() as conn:
            now = utcnow()
            # The alerts service's deliveries of acme's trigger, for /v1/alerts to act on.
            stored = await conn.scalar(
                select(triggers.c.payload).where(triggers.c.trigger_id == SEEDED["trigger_id"])
            )
            fired = TriggerEvent.model_validate_json(stored)
            await repository.add(conn, [fired], ["slack", "email"], now)
            await conn.execute(
                silences.insert().values(
                    silence_id=SEEDED["silence_id"],
                    matchers='[{"name": "account_id", "value": "acme", "isRegex": false}]',
                    starts_at=now,
                    ends_at=now + timedelta(days=7),
                    created_by="ops",
                    comment="seeded",
                    updated_at=now,
                )
            )
        callers = {
            "write token": bearer(writer),
            "read token": bearer(reader),
            "no token": {},
            "unknown token": bearer(writer + "x"),
        }
        yield api, callers


@pytest.mark.parametrize(
    "max_examples",
    [
        MAX_EXAMPLES,
        pytest.param(SLOW_MAX_EXAMPLES, marks=[pytest.mark.slow, pytest.mark.timeout(300)]),
    ],
)
async def test_every_operation_answers_as_documented(
    api_settings: Callable[..., UpSettings],
    engine: AsyncEngine,
    send: Any,
    subtests: pytest.Subtests,
    max_examples: int,
) -> None:
    # No rate limit, so the volume reaches the routes: the 429 is checked against the document
    # in test_every_refusal_is_documented. Tokens are cached, as by default: the tokens exist
    # before the first guarded request, and the fuzzing costs no token lookups.
    settings = api_settings(api_rate_per_second=0, api_token_cache_seconds=60)
    async with seeded_api(settings, engine, send) as (api, callers):
        document = (await api.get("/openapi.json")).json()
        base_url = str(api.base_url).rstrip("/")
        for caller in CALLERS:
            with subtests.test(caller):
                fuzzed = await asyncio.to_thread(
                    fuzz, document, base_url, callers[caller], max_examples
                )
                assert set(fuzzed.operations) == OPERATIONS  # none collected fails too
                assert not fuzzed.failures, "\n\n".join(fuzzed.failures)
                for operation in sorted(OPERATIONS):
                    statuses = fuzzed.statuses[operation]
                    assert any(map(reached(caller, operation), statuses)), (operation, statuses)
        # Nothing the fuzzer wrote stalled scoring: it is ready, and applies a write at once.
        assert (await api.get("/readyz")).status_code == 200
        after = {"name": "After fuzzing"}
        put = await api.put("/v1/accounts/after", json=after, headers=callers["write token"])
        assert put.status_code == 200, put.text


async def test_every_refusal_is_documented(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    """The guard's answers that fuzzing does not bring about, on every operation: 413 for a body
    over the limit and, from a bucket of one request, 429 for the next request. (Fuzzing
    brings about the 401s and 403s above.)"""
    settings = api_settings(api_max_body_bytes=64, api_rate_per_second=0.001, api_rate_burst=1)
    async with scoring(settings, engine) as api:
        document = (await api.get("/openapi.json")).json()
        operations = operations_of(document)
        assert {operation.label for operation in operations} == OPERATIONS
        for n, operation in enumerate(operations):
            # A token per operation: each has its own bucket of one.
            headers = bearer(await tokens.create_token(engine, f"t{n}", tokens.WRITE))
            case = operation.Case(path_parameters=seeded(operation))
            path = operation.path.format(**SEEDED)
            answers = [413, 429] if is_protected(path, GUARDED_TOO) else [413]
            for status in answers:
                response = await api.request(
                    operation.method, path, headers=headers, json={"name": "x" * 100}
                )
                assert response.status_code == status, (operation.label, response.text)
                case.validate_response(response, checks=CHECKS)
