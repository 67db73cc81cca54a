"""An account's health over time: a point per change of score or band with its cause, served
oldest first by GET /v1/accounts/{id}/history, and the trend in the health response."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import login, support
from harness.waiting import wait_for
from services.cli import UpSettings
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.health.history import chart, trend
from services.scoring.scorecard.loading import load, parse
from shared.contracts.signals import Signal
from tests.helpers.in_process import scoring

BUILT_IN = load(None)


def _apply(state: AccountState, signal: dict[str, Any], scorecard: Any = BUILT_IN) -> None:
    apply_signal(state, cast(Signal, signal), scorecard, DedupWindow(3600), arrived=0)


def test_a_point_per_change_with_its_cause_and_none_without_a_change() -> None:
    state = AccountState("acme", 0)
    _apply(state, first := login("acme", "u1", 0))
    point = chart(state, "signal", first["signal_id"])
    assert point is not None
    assert (point["cause_kind"], point["cause"]) == ("signal", first["signal_id"])
    assert (point["score"], point["band"]) == (state.health["score"], state.health["band"])
    assert chart(state, "signal", "again") is None  # nothing changed since

    _apply(state, support("acme", 0.5, "T-1", "opened", priority="urgent"))
    assert chart(state, "signal", "s") is not None  # an urgent ticket lowers the score

    # The same account under another scorecard: the change is the scorecard's.
    stricter = parse(b"health:\n  bands: {green_from: 99, red_below: 98}\n", "strict.yaml")
    _apply(state, login("acme", "u1", 1), stricter)  # a new day: evaluated in full
    point = chart(state, "signal", "l")
    assert point is not None
    assert (point["cause_kind"], point["cause"]) == ("scorecard", stricter.version)


def test_the_trend_is_the_change_over_7_and_30_days_of_event_time() -> None:
    state = AccountState("acme", 0)
    scores = {}
    for day in range(0, 40):
        _apply(state, login("acme", f"u{day % 4}", day))
        chart(state, "signal", None)
        scores[day] = state.health["score"]
    _apply(state, support("acme", 40, "T-9", "opened", priority="urgent"))
    chart(state, "signal", None)
    now = state.health["score"]
    assert trend(state) == {"d7": now - scores[33], "d30": now - scores[10]}
    assert trend(AccountState("new", 0)) == {"d7": None, "d30": None}


async def test_history_is_served_oldest_first_in_pages(
    scoring_settings: UpSettings, engine: AsyncEngine, send: Any
) -> None:
    signals = [
        login("acme", "u1", 0),
        support("acme", 1, "T-1", "opened", priority="urgent"),
        support("acme", 2, "T-2", "opened", priority="urgent"),
        support("acme", 3, "T-1", "closed"),
    ]
    async with scoring(scoring_settings, engine) as api:
        for signal in signals:  # one at a time: each is its own change
            await send(signal)

            async def applied(n: int = signals.index(signal) + 1) -> list[Any] | None:
                answer = await api.get("/v1/accounts/acme/history")
                points = answer.json()["points"] if answer.status_code == 200 else []
                return points if len(points) >= n else None

            points = await wait_for(applied, what="a history point per change")
        assert [p["cause"] for p in points] == [
            {"kind": "signal", "signal_id": s["signal_id"]} for s in signals
        ]
        days = ["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04"]
        assert [p["at"][:10] for p in points] == days
        assert points[1]["score"] < points[0]["score"] and points[3]["score"] > points[2]["score"]
        components = {"adoption", "engagement", "activity", "relationship", "support", "sentiment"}
        assert set(points[0]["components"]) == components

        first = (await api.get("/v1/accounts/acme/history?limit=3")).json()
        assert first["points"] == points[:3]
        rest = (await api.get(f"/v1/accounts/acme/history?cursor={first['next_cursor']}")).json()
        assert rest == {"account_id": "acme", "points": points[3:], "next_cursor": None}
        window = "since=2026-09-02T00:00:00Z&until=2026-09-04T00:00:00Z"
        since = (await api.get(f"/v1/accounts/acme/history?{window}")).json()
        assert since["points"] == points[1:3]

        health = (await api.get("/v1/accounts/acme/health")).json()
        assert health["trend"] == {"d7": None, "d30": None}  # no score a week before
        assert (await api.get("/v1/accounts/nobody/history")).status_code == 404
        assert (await api.get("/v1/accounts/acme/history?since=yesterday")).status_code == 422
