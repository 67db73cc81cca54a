"""GET /v1/triggers/{trigger_id}: a trigger with its status and why it fired, in words and
numbers, as a CSM reads it (the real broker and database, scoring in process)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import usage
from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring.scorecard.loading import load
from services.scoring.triggers.explain import condition
from shared.contracts.triggers import TriggerEvent
from tests.helpers.in_process import scoring

PLAN = {"name": "Acme Corp", "plan": {"period": "month", "limits": {"api_calls": 100_000}}}


async def test_a_trigger_explains_itself_and_says_when_its_episode_ended(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        assert (await api.put("/v1/accounts/acme", json=PLAN)).status_code == 200
        await send(*(usage("acme", 0.1 * i, metric="api_calls", value=21_000) for i in range(4)))

        async def fired() -> list[dict[str, Any]]:
            return list((await api.get("/v1/triggers?account_id=acme")).json()["triggers"])

        [listed] = await wait_for(fired, what="plan_limit_80")
        answer = await api.get(f"/v1/triggers/{listed['trigger_id']}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["trigger"] == listed
        assert body["status"] == "firing"
        assert body["explanation"] == {
            "condition": "api_calls used in the plan period 2026-09 reached 80% of the plan's "
            "limit of 100,000 (it ends once usage falls below 70%)",
            "thresholds": {"fire_ratio": 0.8, "rearm_ratio": 0.7},
            "values": {
                "metric": "api_calls",
                "used": 84_000.0,
                "limit": 100_000.0,
                "ratio": 0.84,
                "period": "2026-09",
                "expansion_gated": True,  # no core feature in use
            },
            "scorecard_version": load(None).version,
        }

        # A new month starts the metric afresh: September's episode is over.
        await send(usage("acme", 30, metric="api_calls", value=10))

        async def resolved() -> bool:
            again = (await api.get(f"/v1/triggers/{listed['trigger_id']}")).json()
            return bool(again["status"] == "resolved")

        await wait_for(resolved, what="the episode ended")
        missing = await api.get("/v1/triggers/no-such-trigger")
        assert missing.status_code == 404
        assert "no-such-trigger" in missing.json()["detail"]


def test_a_trigger_stored_before_thresholds_were_kept_is_told_by_its_summary() -> None:
    old = TriggerEvent.model_validate(
        {
            "trigger_id": "t-1",
            "type": "plan_limit_80",
            "account_id": "acme",
            "fired_at": "2026-09-01T00:00:00Z",
            "severity": "warning",
            "dedup_key": "acme:plan_limit_80:api_calls:2026-09",
            "summary": "Acme used 84% of api_calls (84,000 of 100,000) this month",
            "details": {"metric": "api_calls", "used": 84000, "limit": 100000},
        }
    )
    assert condition(old) == old.summary
