"""Input the API cannot use is a 422 naming the field: never a 500, and never a record that
scoring cannot store (one such record failed every batch, stalling all of scoring)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import usage
from harness.waiting import wait_for
from services.cli import UpSettings
from tests.helpers.in_process import scoring

JSON = {"content-type": "application/json"}


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, (response.request.url, response.text)
    assert field in response.text, (field, response.text)


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def test_text_postgresql_cannot_store_is_refused_and_scoring_keeps_going(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    async with scoring(scoring_settings, engine) as api:
        # A NUL in the path or query (PostgreSQL text holds none): was a 500.
        for path in ("/v1/accounts/a%00b", "/v1/accounts/a%00b/health"):
            _refused(await api.get(path), "account_id")
        _refused(await api.get("/v1/accounts/a%00b/stakeholders"), "account_id")
        _refused(await api.get("/v1/triggers?account_id=a%00b"), "account_id")
        _refused(await api.put("/v1/accounts/a%00b", json={}), "account_id")
        _refused(await api.put("/v1/accounts/acme/stakeholders/a%00@b.example", json={}), "email")

        # A NUL in a record was accepted, and then failed every batch scoring tried to store;
        # a lone surrogate (a JSON escape UTF-8 cannot encode) was a 500.
        for body, field in [
            ({"name": "Acme\x00"}, "name"),
            ({"csm": {"slack": "\x00"}}, "csm.slack"),
            ({"plan": {"limits": {"seats\x00": 5}}}, "plan.limits"),
        ]:
            _refused(await api.put("/v1/accounts/acme", json=body), field)
        lone = b'{"name": "Acme \\ud800"}'
        _refused(await api.put("/v1/accounts/acme", content=lone, headers=JSON), "name")
        person = "/v1/accounts/acme/stakeholders/dana@acme.example"
        _refused(await api.put(person, json={"title": "VP\x00"}), "title")

        # Invalid values FastAPI echoes back that JSON in UTF-8 cannot carry: were a 500.
        for raw, field in [
            (b'{"arr": NaN}', "arr"),
            (b'{"arr": 1e400}', "arr"),
            (b'{"tier": "\\ud800"}', "tier"),
            (b'{"plan": {"limits": {"\\udc00": -1}}}', "limits"),
        ]:
            _refused(await api.put("/v1/accounts/acme", content=raw, headers=JSON), field)

        # Nothing of that reached scoring: it is ready, and applies the next write at once.
        assert (await api.get("/readyz")).status_code == 200
        put = await api.put("/v1/accounts/acme", json={"name": "Acme Corp"})
        assert put.status_code == 200, put.text
        assert (await api.get("/v1/accounts/acme")).json()["name"] == "Acme Corp"


async def test_only_cursors_the_api_returned_are_taken(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        limits = {"api_calls": 100, "exports": 100}
        await api.put("/v1/accounts/acme", json={"plan": {"limits": limits}})
        await api.put("/v1/accounts/zeta", json={"name": "Zeta"})
        await send(*(usage("acme", 0.1, metric=metric, value=90) for metric in limits))

        async def both_fired() -> bool:
            page = (await api.get("/v1/triggers")).json()
            return len(page["triggers"]) == 2

        await wait_for(both_fired, what="two plan_limit_80 triggers")

        # The API's own cursors page on.
        first = (await api.get("/v1/triggers?limit=1")).json()
        second = (await api.get(f"/v1/triggers?limit=1&cursor={first['next_cursor']}")).json()
        assert second["next_cursor"] is None
        fired = {t["trigger_id"] for t in first["triggers"] + second["triggers"]}
        assert len(fired) == 2
        first = (await api.get("/v1/accounts?limit=1")).json()
        second = (await api.get(f"/v1/accounts?limit=1&cursor={first['next_cursor']}")).json()
        assert second["next_cursor"] is None
        listed = {a["account_id"] for a in first["accounts"] + second["accounts"]}
        assert listed == {"acme", "zeta"}

        # Well-formed cursors the API never returns. All but the ones marked were 500s.
        for values in [
            ["yesterday", "x"],
            ["0001-01-01T00:00:00+01:00", "x"],  # before the calendar begins, in UTC
            ["2026-11-20T10:00:00+00:00", "\u0000"],
            ["2026-11-20T10:00:00", "x"],  # no offset (was taken)
        ]:
            _refused(await api.get(f"/v1/triggers?cursor={_cursor(values)}"), "cursor")
        for values in [[2**63, "x"], [True, "x"], [50, "\u0000"], [101, "x"], [1.5, "x"]]:
            _refused(await api.get(f"/v1/accounts?cursor={_cursor(values)}"), "cursor")
