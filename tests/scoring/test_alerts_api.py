"""/v1/alerts: each delivery with its receiver, channel, status, attempts and acknowledgement;
acknowledging an alert; snoozing one, which silences its account and type."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import repository
from services.alerts.routing.loading import parse_routes
from services.alerts.silences import in_force
from services.alerts.tables import deliveries
from services.cli import UpSettings
from shared.clock import utcnow
from tests.helpers.alert_factories import parsed, trigger
from tests.helpers.in_process import scoring

ROUTES = b"""\
receivers:
  - {name: csm, slack: {channel: account_csm}, email: {to: account_csm}}
  - {name: leads, slack: {channel: C0LEADS}}
route:
  receiver: csm
  routes:
    - {matchers: ['account_id="acme"'], receiver: leads, continue: true}
    - {receiver: csm}
"""


async def _alerted(engine: AsyncEngine, *events: dict) -> None:
    """Deliveries as the alerts service makes them when it reads these triggers, in order."""
    routing = parse_routes(ROUTES, "routes.yaml")
    for event in events:
        async with engine.begin() as conn:
            await repository.add(conn, [parsed(event)], ["slack", "email"], utcnow(), routing)


async def test_alerts_list_each_delivery_newest_first_with_filters_and_pages(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    acme, globex = trigger("acme"), trigger("globex")
    await _alerted(engine, acme, globex)
    async with engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.channel == "email")
            .values(status="delivered", attempts=2, recipient="sam@vendor.example")
        )
    async with scoring(scoring_settings, engine) as api:
        every = (await api.get("/v1/alerts")).json()
        shown = [(a["account_id"], a["receiver"], a["channel"]) for a in every["alerts"]]
        assert shown == [
            ("globex", "csm", "slack"),
            ("globex", "csm", "email"),
            ("acme", "leads", "slack"),
            ("acme", "csm", "slack"),
            ("acme", "csm", "email"),
        ]
        email = every["alerts"][1]
        assert (email["status"], email["attempts"], email["recipient"]) == (
            "delivered", 2, "sam@vendor.example"
        )  # fmt: skip
        assert email["acknowledged_by"] is None and every["next_cursor"] is None

        leads = (await api.get("/v1/alerts?receiver=leads")).json()["alerts"]
        assert [(a["trigger_id"], a["channel"]) for a in leads] == [(acme["trigger_id"], "slack")]
        pending = (await api.get("/v1/alerts?status=pending&account_id=acme")).json()["alerts"]
        assert [(a["receiver"], a["channel"]) for a in pending] == [
            ("leads", "slack"),
            ("csm", "slack"),
        ]
        paged, cursor = [], None
        while True:
            page = (await api.get("/v1/alerts", params={"limit": 2, "cursor": cursor})).json()
            paged += [(a["account_id"], a["receiver"], a["channel"]) for a in page["alerts"]]
            if not (cursor := page["next_cursor"]):
                break
        assert paged == shown
        assert (await api.get("/v1/alerts?status=lost")).status_code == 422
        assert (await api.get("/v1/alerts?cursor=nonsense")).status_code == 422


async def test_an_alert_is_acknowledged_once_and_snoozed_as_a_silence(
    scoring_settings: UpSettings, engine: AsyncEngine
) -> None:
    acme = trigger("acme")
    await _alerted(engine, acme)
    path = f"/v1/alerts/{acme['trigger_id']}"
    async with scoring(scoring_settings, engine) as api:
        first = await api.post(f"{path}/ack", json={"by": "sam@vendor.example"})
        assert first.status_code == 200, first.text
        again = await api.post(f"{path}/ack", json={"by": "lee@vendor.example"})
        assert again.json() == first.json()  # the first acknowledgement stays
        assert first.json()["acknowledged_by"] == "sam@vendor.example"
        listed = (await api.get("/v1/alerts")).json()["alerts"]
        assert {a["acknowledged_by"] for a in listed} == {"sam@vendor.example"}
        assert {a["acknowledged_at"] for a in listed} == {first.json()["acknowledged_at"]}

        snoozed = await api.post(f"{path}/snooze", json={"days": 7, "by": "sam@vendor.example"})
        assert snoozed.status_code == 200, snoozed.text
        [silence] = (await api.get("/v1/silences")).json()
        assert silence["id"] == snoozed.json()["silenceID"]
        assert silence["matchers"] == [
            {"name": "account_id", "value": "acme", "isRegex": False, "isEqual": True},
            {"name": "type", "value": "plan_limit_80", "isRegex": False, "isEqual": True},
        ]
        assert silence["status"] == {"state": "active"}
        assert silence["endsAt"] == snoozed.json()["endsAt"]
        async with engine.connect() as conn:
            [muting] = await in_force(conn, utcnow() + timedelta(days=6))
            assert muting.mutes({"account_id": "acme", "type": "plan_limit_80"}, utcnow())
            assert await in_force(conn, utcnow() + timedelta(days=7, minutes=1)) == []

        for action, body in (("ack", {"by": "sam"}), ("snooze", {"days": 1, "by": "sam"})):
            unknown = await api.post(f"/v1/alerts/nothing-like-it/{action}", json=body)
            assert unknown.status_code == 404, unknown.text
        for body in ({"days": 0, "by": "sam"}, {"days": 7}, {"days": 400, "by": "sam"}):
            assert (await api.post(f"{path}/snooze", json=body)).status_code == 422
        assert (await api.post(f"{path}/ack", json={"by": ""})).status_code == 422
