"""A routing file (PULSE_ROUTES) on the running alerts service: each trigger reaches the
receivers its routes pick, once per receiver and channel, on the real broker, PostgreSQL, SMTP
server and Slack stand-in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.routing.loading import RoutesError
from services.cli import UpSettings
from tests.helpers.alert_factories import (
    SAM,
    emails_for,
    produce,
    rows,
    running,
    slack_for,
    trigger,
)
from tests.helpers.servers import SmtpServer

Settings = Callable[..., UpSettings]

LEADS_EMAIL = "cs-leads@vendor.example"
ROUTES = f"""\
receivers:
  - name: csm
    slack: {{channel: account_csm}}
    email: {{to: account_csm}}
  - name: leads
    slack: {{channel: C0LEADS}}
    email: {{to: {LEADS_EMAIL}}}
route:
  receiver: csm
  routes:
    - matchers: ['category="risk"', 'tier="1"']
      receiver: leads
      continue: true
    - matchers: ['type=~"plan_limit_.*"']
      receiver: leads
    - receiver: csm
"""
TIER_1 = {
    "name": "Acme Corp",
    "tier": 1,
    "plan": {"name": "Growth", "period": "month", "limits": {}},
    "csm": SAM,
}


async def _done(engine: AsyncEngine, dedup_key: str, count: int) -> bool:
    found = await rows(engine, dedup_key)
    return len(found) == count and all(r["status"] != "pending" for r in found)


async def test_each_trigger_reaches_the_receivers_its_routes_pick_once_each(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    settings = alert_settings(routes=str(routes))
    risk = trigger(
        type="health_red", category="risk", severity="critical", account=TIER_1
    )  # leads (continue), then the catch-all route: the CSM too
    limit = trigger(account=TIER_1)  # plan_limit_80: the leads only
    async with running(settings, engine):
        await produce(settings, risk, limit, risk)  # the risk trigger read twice
        await wait_for(lambda: _done(engine, risk["dedup_key"], 4), what="risk's 4 deliveries")
        await wait_for(lambda: _done(engine, limit["dedup_key"], 2), what="limit's 2")

    stored = {(r["receiver"], r["channel"]): r for r in await rows(engine, risk["dedup_key"])}
    assert {key: r["recipient"] for key, r in stored.items()} == {
        ("csm", "slack"): SAM["slack"],
        ("csm", "email"): SAM["email"],
        ("leads", "slack"): "C0LEADS",
        ("leads", "email"): LEADS_EMAIL,
    }
    assert {r["status"] for r in stored.values()} == {"delivered"}
    posts = slack_for(slack_server, risk["dedup_key"])
    assert Counter((p["channel"], p["metadata"]["event_payload"]["receiver"]) for p in posts) == {
        (SAM["slack"], "csm"): 1,
        ("C0LEADS", "leads"): 1,
    }
    emails = emails_for(smtp_server, risk["dedup_key"])
    assert sorted(tuple(m.rcpt_tos) for m in emails) == [(LEADS_EMAIL,), (SAM["email"],)]
    assert len({m.message["Message-ID"] for m in emails}) == 2  # one message per receiver

    assert [(p["channel"]) for p in slack_for(slack_server, limit["dedup_key"])] == ["C0LEADS"]
    assert [m.rcpt_tos for m in emails_for(smtp_server, limit["dedup_key"])] == [[LEADS_EMAIL]]


async def test_a_routing_file_with_a_problem_stops_the_service_naming_its_line(
    alert_settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.replace("receiver: leads\n      continue", "receiver: lead\n      continue")
    )
    try:
        async with running(alert_settings(routes=str(routes)), engine):
            pass
    except* RoutesError as raised:
        [error] = raised.exceptions
        assert str(error) == f"{routes}:12: route.routes.0.receiver: no receiver is named 'lead'"
    else:
        raise AssertionError("the service started with a routing file naming no receiver")


async def test_a_changed_routing_file_takes_effect_and_an_invalid_one_is_kept_out(
    alert_settings: Settings,
    engine: AsyncEngine,
    slack_server: SlackServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    settings = alert_settings(routes=str(routes))
    before, after = trigger(account=TIER_1), trigger(account=TIER_1)  # plan_limit_80s
    loaded, invalid = _reloads("loaded"), _reloads("invalid")
    async with running(settings, engine) as readiness:
        await produce(settings, before)
        await wait_for(lambda: _done(engine, before["dedup_key"], 2), what="the leads' two")
        # Plan limits to the CSM from now on; then a file with a mistake, which is kept out.
        routes.write_text(ROUTES.replace("'type=~\"plan_limit_.*\"'", "'type=\"none\"'"))
        await wait_for(lambda: _reloads("loaded") > loaded, what="the new routing loaded")
        routes.write_text(ROUTES.replace("receiver: csm\n  routes", "receiver: nobody\n  routes"))
        await wait_for(lambda: _reloads("invalid") > invalid, what="the invalid file noticed")
        notice = readiness.notices.get("routes", "")
        assert f"{routes}:9: route.receiver: no receiver is named 'nobody'" in notice
        await produce(settings, after)
        await wait_for(lambda: _done(engine, after["dedup_key"], 2), what="the CSM's two")

    assert {r["receiver"] for r in await rows(engine, before["dedup_key"])} == {"leads"}
    assert {r["receiver"] for r in await rows(engine, after["dedup_key"])} == {"csm"}


def _reloads(outcome: str) -> float:
    return REGISTRY.get_sample_value("pulse_routes_reloads_total", {"outcome": outcome}) or 0.0
