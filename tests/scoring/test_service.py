"""Scoring on the real broker and PostgreSQL: state, triggers and offsets stored together,
restarts that neither lose nor double anything, and the API a user reads them through."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, login, survey, usage
from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring.accounts.apply import apply_signal, refresh_health
from services.scoring.accounts.repository import account_row, store_accounts
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.accounts.time import date_of
from services.scoring.api.app import create_app
from services.scoring.api.fast_health import HealthReads
from services.scoring.scorecard.loading import load
from services.scoring.settings import ScoringSettings
from services.scoring.tables import triggers
from shared.clock import iso
from shared.db.engine import create_engine
from shared.db.tables import consumer_offsets
from shared.deadletter import headers_of
from shared.kafka import free_port
from shared.readiness import Readiness
from tests.helpers.in_process import scoring
from tests.helpers.proxies import Proxy


async def _json(client: httpx.AsyncClient, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status_code == status, response.text
    return response.json()


async def _usage_of(client: httpx.AsyncClient, account: str, metric: str) -> float | None:
    response = await client.get(f"/v1/accounts/{account}")
    if response.status_code != 200:
        return None
    return response.json()["usage"].get(metric, {}).get("used")


async def test_usage_crossing_80_percent_shows_in_the_api_once(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        put = await api.put(
            "/v1/accounts/acme",
            json={
                "name": "Acme Corp",
                "csm": {"email": "sam@vendor.example"},
                "plan": {"period": "month", "limits": {"api_calls": 100000}},
            },
        )
        assert put.status_code == 200, put.text
        await send(*(usage("acme", 0.1 * i, metric="api_calls", value=21_000) for i in range(5)))
        await wait_for(lambda: _usage_of(api, "acme", "api_calls"), what="usage")
        await wait_for(lambda: _usage_of(api, "acme", "api_calls"), what="all usage", timeout=20)

        async def all_applied() -> bool:
            return await _usage_of(api, "acme", "api_calls") == 105_000

        await wait_for(all_applied, what="105,000 api_calls")
        account = await _json(api, "/v1/accounts/acme")
        assert account["name"] == "Acme Corp"
        assert account["usage"]["api_calls"] == {
            "used": 105000.0,
            "limit": 100000.0,
            "ratio": 1.05,
            "period": "2026-09",
        }
        health = await _json(api, "/v1/accounts/acme/health")
        assert set(health["components"]) >= {"engagement", "activity", "support"}
        assert [t["type"] for t in health["active_triggers"]] == ["plan_limit_80", "plan_limit_100"]
        fired = (await _json(api, "/v1/triggers?account_id=acme"))["triggers"]
        assert [t["dedup_key"] for t in fired] == [  # newest first
            "acme:plan_limit_100:api_calls:2026-09",
            "acme:plan_limit_80:api_calls:2026-09",
        ]
        # Each fired on its own crossing event.
        assert [t["details"]["used"] for t in fired] == [105000, 84000]


async def _stored_account(engine: AsyncEngine, *signals: dict[str, Any]) -> AccountState:
    """An account scoring applied `signals` to, stored as scoring stores it."""
    state = AccountState(signals[0]["account_id"], 0)
    for signal in signals:
        apply_signal(state, signal, load(None), DedupWindow(3600), arrived=time.time())
    refresh_health(state, load(None).top)
    async with engine.begin() as conn:
        await store_accounts(conn, [account_row(state)])
    return state


def _api_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@contextlib.asynccontextmanager
async def _pulse_api(
    database_url: str, **settings: Any
) -> AsyncIterator[tuple[AsyncEngine, httpx.AsyncClient]]:
    """The API as `pulse api` builds it (an engine that pings no pooled connection before use,
    cli.py), in process; its engine, and a client of it."""
    engine = create_engine(database_url, pre_ping=False)
    app = create_app(
        ScoringSettings(database_url=database_url, **settings), engine, None, Readiness()
    )
    try:
        async with _api_client(app) as client:
            yield engine, client
    finally:
        await engine.dispose()


async def test_the_health_read_answers_as_its_route_does(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    # A found account's health is answered below FastAPI's routing (HealthReads); the
    # route, which answers everything else, must agree with it byte for byte.
    await _stored_account(engine, login("acme", "dana@acme.example", 0), usage("acme", 0.1))
    app = create_app(scoring_settings, engine, None, Readiness())
    routes_only = create_app(scoring_settings, engine, None, Readiness())
    routes_only.user_middleware = [
        m for m in routes_only.user_middleware if m.cls is not HealthReads
    ]
    async with _api_client(app) as api, _api_client(routes_only) as routes:
        fast = await api.get("/v1/accounts/acme/health")
        routed = await routes.get("/v1/accounts/acme/health")
    assert fast.json()["components"], fast.text
    for response in (fast, routed):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
    assert fast.content == routed.content
    assert fast.headers["content-length"] == routed.headers["content-length"]


async def test_reads_outlive_a_connection_the_database_dropped(
    database_url: str, engine: AsyncEngine
) -> None:
    # `pulse api` pings no pooled connection before use (cli.py), so after a database
    # restart its pool holds dead connections. A read that meets one is tried again on a
    # fresh one: it answers, rather than a 503 (as every read did, and the token check too).
    state = await _stored_account(engine, login("acme", "dana@acme.example", 0))
    async with _pulse_api(database_url) as (pulse_api, api):

        async def drop_its_connection() -> None:
            async with pulse_api.connect() as conn:  # the pool's one connection
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        for path in ("/v1/accounts/acme/health", "/v1/accounts/acme", "/v1/accounts"):
            await drop_its_connection()
            response = await api.get(path)
            assert response.status_code == 200, (path, response.text)
        assert response.json()["accounts"][0]["score"] == state.health["score"]


async def test_reads_answer_503_while_the_database_is_away(
    database_url: str, engine: AsyncEngine
) -> None:
    # The database behind a proxy that is cut: a read answers 503 naming the database, with
    # Retry-After, whichever layer answers it (HealthReads or a route), and 200 once it is back.
    await _stored_account(engine, login("acme", "dana@acme.example", 0))
    proxy = Proxy(free_port(), make_url(database_url).port or 5432)
    await proxy.start()
    url = make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)
    paths = ("/v1/accounts/acme/health", "/v1/accounts/acme", "/v1/accounts")
    try:
        async with _pulse_api(url, api_token_cache_seconds=600) as (_, api):
            assert (await api.get(paths[0])).status_code == 200  # and the tokens are cached
            proxy.cut()
            for path in paths:
                response = await api.get(path)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["retry-after"] == "1"
                assert response.json()["detail"].startswith("the database did not answer (")
            proxy.restore()
            for path in paths:
                assert (await api.get(path)).status_code == 200, path
    finally:
        await proxy.stop()


async def test_restart_resumes_from_stored_offsets_and_ignores_duplicates(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    first = [usage("acme", 0, metric="api_calls", value=1) for _ in range(50)]
    async with scoring(scoring_settings, engine) as api:
        await send(*first)

        async def fifty() -> bool:
            return await _usage_of(api, "acme", "api_calls") == 50

        await wait_for(fifty, what="first 50 events")
    # Stopped. Redeliveries of old events (same event_id) and new ones arrive meanwhile.
    second = [usage("acme", 1, metric="api_calls", value=1) for _ in range(30)]
    await send(*first[:10], *second, *second[:5])
    async with scoring(scoring_settings, engine, abrupt=True) as api:

        async def eighty() -> bool:
            return await _usage_of(api, "acme", "api_calls") == 80

        await wait_for(eighty, what="80 distinct events")
    async with engine.connect() as conn:
        stored = await conn.execute(
            select(func.sum(consumer_offsets.c.next_offset)).where(
                consumer_offsets.c.topic == scoring_settings.topics.signals
            )
        )
        assert stored.scalar() == 50 + 10 + 30 + 5  # every record consumed exactly once


async def test_a_retry_counts_once_within_the_window_from_when_it_arrived(
    settings_factory: Any, engine: AsyncEngine, send: Any
) -> None:
    # The window runs from when a signal was published, whatever its event time: a retry
    # a minute later is a duplicate even after events ten days newer; the same id 3 hours
    # later, with a window of 1 hour, is remembered no longer and counts.
    settings = settings_factory(api_port=free_port(), dedup_window_hours=1)
    event = usage("acme", 0, metric="api_calls", value=1)
    hour, now = 3600, time.time()
    arrivals = [
        (event, now),
        (usage("acme", 5, metric="api_calls", value=10), now + 30),
        (usage("acme", 10, metric="api_calls", value=100), now + 45),
        (event, now + 60),  # a duplicate
        (usage("acme", 11, metric="api_calls", value=1000), now + 1.5 * hour),
        (usage("acme", 12, metric="api_calls", value=10_000), now + 3 * hour),
        (event, now + 3 * hour + 60),  # forgotten: counts
        (usage("acme", 12, metric="api_calls", value=100_000), now + 3 * hour + 90),
    ]
    async with scoring(settings, engine) as api:
        for signal, arrived in arrivals:
            await send(signal, arrived=arrived)

        async def all_applied() -> float | None:
            used = await _usage_of(api, "acme", "api_calls")
            return used if used is not None and used >= 100_000 else None

        assert await wait_for(all_applied, what="the last event") == 111_112


async def test_api_write_applies_in_order_with_events_and_the_list_is_worst_first(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        # Accounts of different health: active, quiet, and two never active.
        await send(*(login("busy", f"u{i}", d) for d in range(3) for i in range(4)))
        await send(login("quiet", "u1", 0), login("quiet", "u1", 20))
        for idle in ("idle", "dormant"):
            put = await api.put(f"/v1/accounts/{idle}", json={"name": idle.title()})
            assert put.status_code == 200

        async def four() -> bool:
            return len((await _json(api, "/v1/accounts"))["accounts"]) == 4

        await wait_for(four, what="four accounts")
        page1 = await _json(api, "/v1/accounts?limit=3")
        page2 = await _json(api, f"/v1/accounts?limit=3&cursor={page1['next_cursor']}")
        assert page2["next_cursor"] is None
        listed = page1["accounts"] + page2["accounts"]
        # Worst first; accounts named only by a record have no score and come last, by id.
        assert [a["account_id"] for a in listed] == ["quiet", "busy", "dormant", "idle"]
        assert listed[0]["score"] < listed[1]["score"]
        assert [(a["score"], a["band"]) for a in listed[2:]] == [(None, "none"), (None, "none")]
        after_null = await _json(api, f"/v1/accounts?limit=1&cursor={page1['next_cursor']}")
        assert [a["account_id"] for a in after_null["accounts"]] == ["idle"]
        red = await _json(api, "/v1/accounts?band=red")
        assert all(a["band"] == "red" for a in red["accounts"])
        unscored = await _json(api, "/v1/accounts?band=none")
        assert [a["account_id"] for a in unscored["accounts"]] == ["dormant", "idle"]
        people = await _json(api, "/v1/accounts/busy/stakeholders")
        assert len(people["stakeholders"]) == 4 and all(
            p["engaged"] for p in people["stakeholders"]
        )
        put = await api.put(
            "/v1/accounts/busy/stakeholders/Dana@Busy.com",
            json={"name": "Dana", "role": "champion", "department": "Ops"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["email"] == "dana@busy.com"
        people = await _json(api, "/v1/accounts/busy/stakeholders")
        dana = next(p for p in people["stakeholders"] if p["email"] == "dana@busy.com")
        assert dana["role"] == "champion" and dana["department"] == "ops"
        assert dana["engaged"] is False


async def test_bad_requests_get_4xx_naming_the_field_and_store_nothing(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    async with scoring(scoring_settings, engine) as api:
        cases = [
            ("put", "/v1/accounts/acme", {"tier": "one"}, "tier"),
            ("put", "/v1/accounts/acme", {"arr": -5}, "arr"),
            ("put", "/v1/accounts/acme", {"csm": {"email": "not-an-email"}}, "csm"),
            ("put", "/v1/accounts/acme", {"plan": {"period": "week"}}, "period"),
            ("put", "/v1/accounts/acme", {"plan": {"limits": {"seats": 0}}}, "seats"),
            ("put", "/v1/accounts/acme", {"renewal_date": "soon"}, "renewal_date"),
            ("put", "/v1/accounts/" + "x" * 201, {}, "account_id"),
            ("put", "/v1/accounts/acme/stakeholders/nobody", {}, "email"),
            ("put", "/v1/accounts/acme/stakeholders/a@b.com", {"role": "king"}, "role"),
            ("put", "/v1/accounts/acme/stakeholders/a@b.com", {"status": "gone"}, "status"),
            ("get", "/v1/accounts/" + "x" * 201, None, "account_id"),
            ("get", "/v1/accounts/" + "x" * 201 + "/health", None, "account_id"),
            ("get", "/v1/triggers?account_id=", None, "account_id"),
            ("get", "/v1/accounts?band=purple", None, "band"),
            ("get", "/v1/accounts?limit=0", None, "limit"),
            ("get", "/v1/accounts?limit=100000", None, "limit"),
            ("get", "/v1/accounts?cursor=garbage", None, "cursor"),
            ("get", "/v1/triggers?since=yesterday", None, "since"),
            ("get", "/v1/triggers?type=plan_limit_99", None, "type"),
            ("get", "/v1/triggers?cursor=%%%", None, "cursor"),
        ]
        for method, path, body, field in cases:
            response = await api.request(method.upper(), path, json=body)
            assert 400 <= response.status_code < 500, (path, body, response.status_code)
            assert field in response.text, (path, body, response.text)
        not_json = await api.put(
            "/v1/accounts/acme", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422
        for path in (
            "/v1/accounts/acme",
            "/v1/accounts/acme/health",
            "/v1/accounts/acme/stakeholders",
        ):
            missing = await api.get(path)
            assert missing.status_code == 404 and "never been named" in missing.json()["detail"]
        assert (await _json(api, "/v1/accounts"))["accounts"] == []


async def test_a_malformed_signal_is_dead_lettered_and_the_partition_moves_on(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any, broker: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        await send(b"not json", b'{"kind": "usage"}', account_record("acme", {"seats": 10}))

        async def stored() -> bool:
            return (await api.get("/v1/accounts/acme")).status_code == 200

        await wait_for(stored, what="the record after the bad signals")
    reader = AIOKafkaConsumer(
        scoring_settings.topics.dead_letter,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await reader.start()
    try:
        got: list[Any] = []

        async def two() -> bool:
            batch = await reader.getmany(timeout_ms=200)
            got.extend(r for records in batch.values() for r in records)
            return len(got) >= 2

        await wait_for(two, what="two dead letters")
    finally:
        await reader.stop()
    assert sorted(r.value for r in got) == [b"not json", b'{"kind": "usage"}']
    assert all("scoring could not apply signal" in headers_of(r)["pulse-reason"] for r in got)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(triggers))).scalar() == 0


async def test_the_clock_tick_fires_a_time_driven_trigger_for_a_live_account(
    settings_factory: Any, engine: AsyncEngine, send: Any
) -> None:
    """A single-threaded episode whose seventh day comes while the account sends nothing."""
    # The tick moves no clock past the watermark: it waits for the topics to be quiet, here
    # for a second.
    settings = settings_factory(api_port=free_port(), tick_seconds=0.5, watermark_idle_seconds=1)
    today = time.time() // 86400 * 86400
    # No record, so no start_date: the grace fortnight runs from the first activity, and the
    # tick has no onboarding span to judge the account in before its logins are applied.
    first = today - 21 * 86400 + 60
    since = today - 7 * 86400 + 60  # the grace's end: the episode began a week ago...
    last = today - 1  # ...and the last event, a second before midnight, held it six days
    async with scoring(settings, engine) as api:
        await send(*({**login("solo", "u1", 0), "ts": ts} for ts in (first, since, last)))

        async def by_the_tick() -> list[Any]:
            return (await _json(api, "/v1/triggers?account_id=solo"))["triggers"]

        [trigger] = await wait_for(by_the_tick, timeout=20, what="the tick to fire it")
        assert trigger["type"] == "single_threaded"
        assert trigger["dedup_key"] == f"solo:single_threaded:{date_of(since)}"
        # No event is dated today: only the wall-clock tick could have fired it today.
        assert trigger["fired_at"] >= iso(today)
        assert trigger["details"]["held_days"] == 7


async def test_survey_answers_move_sentiment_and_the_health_explains_it(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    async with scoring(scoring_settings, engine) as api:
        await send(
            login("surveyed", "u1", 0, email="dana@surveyed.com"),
            survey("surveyed", 1, "nps", 3, email="dana@surveyed.com"),
            survey("surveyed", 1, "nps", 10, user_id="u2"),
            survey("surveyed", 2, "nps", 10, email="DANA@surveyed.com"),  # Dana again, happier
        )

        async def sentiment() -> dict[str, Any] | None:
            answer = await api.get("/v1/accounts/surveyed/health")
            if answer.status_code != 200:
                return None
            component = answer.json()["components"]["sentiment"]
            return component if component["inputs"].get("promoters") == 2 else None

        component = await wait_for(sentiment, what="both promoters in sentiment")
        assert component["score"] == 100
        assert component["why"] == "NPS +100 from 2 respondents in the last 180 days"
