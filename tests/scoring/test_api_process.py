"""`pulse api` serves the API on its own, next to `pulse scoring --no-api`: writes go through
cs.signals to scoring, reads come from the database scoring keeps."""

from __future__ import annotations

import httpx

from shared.kafka import EmbeddedBroker
from tests.helpers.fault_runs import private_run
from tests.helpers.processes import PulseProcess


async def test_the_api_apart_from_scoring_applies_writes_and_answers_reads(
    broker: EmbeddedBroker,
) -> None:
    async with private_run(broker.bootstrap) as run:
        env = run.env(PULSE_LOG_LEVEL="INFO")
        scoring = PulseProcess(env, "scoring", "--no-api")
        api = PulseProcess(env, "api")
        try:
            await scoring.ready()
            await api.ready()
            async with httpx.AsyncClient(base_url=api.url, timeout=15) as client:
                put = await client.put("/v1/accounts/acme", json={"name": "Acme", "tier": 1})
                assert put.status_code == 200, put.text  # applied by scoring within the wait
                account = (await client.get("/v1/accounts/acme")).json()
                assert (account["name"], account["tier"]) == ("Acme", 1)
                health = await client.get("/v1/accounts/acme/health")
                assert health.status_code == 200 and "score" in health.json()
                assert (await client.get("/v1/accounts/nobody/health")).status_code == 404
            assert "API on http" not in scoring.output()  # scoring left the port to `pulse api`
        except BaseException:
            print(scoring.output()[-3000:], api.output()[-3000:])
            raise
        finally:
            await api.stop()
            await scoring.stop()
