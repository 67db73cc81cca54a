"""End to end, as a user runs it: `pulse up` as a process on the real broker and PostgreSQL,
Slack's Web API stood in by a local server, email through a real SMTP server."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from shared.config import Topics
from shared.kafka import EmbeddedBroker
from tests.helpers.pipeline import TopicCounter, e2e_env, produce, settled
from tests.helpers.processes import pulse_up
from tests.helpers.servers import SmtpServer
from tests.scenario import build, scenario_now


@pytest.fixture
def env(
    broker: EmbeddedBroker,
    database_url: str,
    engine: AsyncEngine,
    topics: Topics,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> dict[str, str]:
    return e2e_env(
        broker,
        database_url,
        topics,
        slack_server,
        smtp_server,
        "e2e",
    )


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def test_one_usage_spike_becomes_one_trigger_one_slack_message_and_one_email(
    env: dict[str, str],
    engine: AsyncEngine,
    broker: EmbeddedBroker,
    topics: Topics,
    producer: AIOKafkaProducer,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    async with pulse_up(env) as (_, api):
        account = {
            "account_id": "acme",
            "name": "Acme Corp",
            "csm": {"name": "Sam", "email": "sam@vendor.example", "slack": "U024BE7LH"},
            "plan": {"period": "month", "limits": {"api_calls": 100000}},
        }
        await produce(producer, topics, [("accounts", account)])
        usage = [
            (
                "product_usage",
                {
                    "event_id": f"u-{i}",
                    "account_id": "acme",
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "metric": "api_calls",
                    "value": 41000,
                },
            )
            for i in range(2)
        ]
        await produce(producer, topics, usage)

        async def fired() -> list[dict[str, Any]]:
            return (await api.get("/v1/triggers?account_id=acme")).json()["triggers"]

        triggers = await wait_for(fired, what="the trigger in the API")
        await wait_for(lambda: slack_server.posted() and smtp_server.messages, what="delivery")
        await settled(engine, env, broker, topics)
        assert [t["dedup_key"] for t in triggers] == ["acme:plan_limit_80:api_calls:2026-11"]
        assert triggers[0]["summary"].startswith("Acme Corp used 82% of api_calls (82,000 of")
        [slack] = slack_server.posted()
        assert slack.body["channel"] == "U024BE7LH"
        assert slack.body["metadata"]["event_payload"]["dedup_key"] == triggers[0]["dedup_key"]
        [mail] = smtp_server.messages
        assert mail.rcpt_tos == ["sam@vendor.example"]
        assert mail.message["X-Pulse-Dedup-Key"] == triggers[0]["dedup_key"]
        metrics = (await api.get("/metrics")).text
        assert 'pulse_triggers_fired_total{type="plan_limit_80"} 1.0' in metrics
        assert 'pulse_alert_deliveries_total{channel="slack",outcome="delivered"} 1.0' in metrics
        assert 'pulse_alert_deliveries_total{channel="email",outcome="delivered"} 1.0' in metrics


async def test_a_new_users_first_weeks_give_exactly_the_implied_alerts_once(
    env: dict[str, str],
    engine: AsyncEngine,
    topics: Topics,
    producer: AIOKafkaProducer,
    broker: EmbeddedBroker,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> None:
    scenario = build(scenario_now())
    async with (
        pulse_up(env, kill=True) as (_, api),
        TopicCounter(broker, [topics.signals, topics.dead_letter]) as forwarded,
    ):
        for account_id, body in scenario.api_accounts.items():
            response = await api.put(f"/v1/accounts/{account_id}", json=body)
            assert response.status_code == 200, response.text
        stakeholder = await api.put(
            "/v1/accounts/acme/stakeholders/Dana@Acme.example",
            json={"name": "Dana", "title": "VP Operations", "role": "champion"},
        )
        assert stakeholder.status_code == 200, stakeholder.text
        expected_records = len(scenario.api_accounts) + 1
        sent = await produce(producer, topics, scenario.records + scenario.malformed)
        # History is sent a day at a time, each day once ingest has passed on the one before,
        # as a backfill in event-time order would arrive.
        for day in scenario.in_order():
            sent += await produce(producer, topics, day)

            async def passed_on(total: int = sent + expected_records) -> bool:
                return await forwarded.count() >= total

            await wait_for(passed_on, what=f"ingest to pass on {sent + expected_records}")

        async def all_alerts() -> bool:
            return len(slack_server.posted()) >= 3 and len(smtp_server.messages) >= 3

        await wait_for(all_alerts, timeout=60, what="three alerts by Slack and email")
        await settled(engine, env, broker, topics)
        await _assert_exactly_the_expected_alerts(api, scenario, slack_server, smtp_server)
        assert await forwarded.count() == sent + expected_records  # no message lost or added
        metrics = (await api.get("/metrics")).text
        dead = [
            line for line in metrics.splitlines() if line.startswith("pulse_dead_letters_total")
        ]
        assert sum(float(ln.rsplit(" ", 1)[1]) for ln in dead) == len(scenario.malformed)

        acme = (await api.get("/v1/accounts/acme")).json()
        assert acme["usage"]["api_calls"]["used"] == 50000
        assert acme["usage"]["api_calls"]["ratio"] == 0.5
        globex = (await api.get("/v1/accounts/globex")).json()
        assert globex["usage"]["api_calls"]["used"] == 700  # duplicates counted once
        health = (await api.get("/v1/accounts/umbrella/health")).json()
        assert health["band"] == "red" and health["score"] < 40
        people = (await api.get("/v1/accounts/acme/stakeholders")).json()["stakeholders"]
        assert {p["email"] for p in people if p["engaged"]} == {
            f"a{i}@acme.example" for i in range(5)
        }
        assert any(p["email"] == "dana@acme.example" and p["role"] == "champion" for p in people)

    # Killed outright; restarted; the last day replayed by a confused producer, and killed
    # outright again while that replay is on its way; restarted: nothing new.
    replay = scenario.in_order()[-1]
    async with pulse_up(env, kill=True):
        await produce(producer, topics, replay)
    async with pulse_up(env) as (_, api):
        await _passed_on_twice(broker, topics, {value["event_id"] for _, value in replay})
        await settled(engine, env, broker, topics)
        await _assert_exactly_the_expected_alerts(api, scenario, slack_server, smtp_server)


async def _passed_on_twice(broker: EmbeddedBroker, topics: Topics, event_ids: set[str]) -> None:
    """Wait until ingest has passed on each of these events a second time (the replay)."""
    times: Counter[str] = Counter()
    consumer = AIOKafkaConsumer(
        topics.signals, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:

        async def twice() -> bool:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                times.update(orjson.loads(r.value)["signal_id"] for r in records)
            return all(times[event_id] >= 2 for event_id in event_ids)

        await wait_for(twice, timeout=60, what="ingest to pass on the replayed day")
    finally:
        await consumer.stop()


async def _assert_exactly_the_expected_alerts(
    api: httpx.AsyncClient, scenario: Any, slack: SlackServer, smtp: SmtpServer
) -> None:
    triggers = (await api.get("/v1/triggers?limit=500")).json()["triggers"]
    assert sorted(t["dedup_key"] for t in triggers) == sorted(scenario.expected)
    posted = {
        m.body["metadata"]["event_payload"]["dedup_key"]: m.body["channel"] for m in slack.posted()
    }
    assert len(slack.posted()) == len(scenario.expected)
    assert posted == scenario.expected
    mailed = sorted(m.message["X-Pulse-Dedup-Key"] for m in smtp.messages)
    assert mailed == sorted(scenario.expected)
    # Each alert went to the CSM its trigger event names: alerts reads the event, nothing else.
    named = {t["dedup_key"]: t["account"]["csm"] for t in triggers}
    assert posted == {key: csm["slack"] for key, csm in named.items()}
    assert sorted((m.message["X-Pulse-Dedup-Key"], m.rcpt_tos) for m in smtp.messages) == sorted(
        (key, [csm["email"]]) for key, csm in named.items()
    )
