"""Replay equals live for the time-driven rules: a history processed a day at a time with the
tick at every midnight (live) fires the same triggers as the same history sent at once weeks
later (a backfill), where only the events and the watermark move the clocks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, at, login, stakeholder, usage
from shared.kafka import EmbeddedBroker
from tests.helpers.scoring_runs import scorer, watermarked

DAYS = 41


def history(suffix: str) -> dict[int, list[dict[str, Any]]]:
    """Signals by day for two accounts. acme: renewing on 12-15 (its window opens on day 15);
    three people use three features daily; Dana, the champion, stops after day 9 and comes
    back on day 35. beta: started on 09-01, first login on day 2, two people, no feature."""
    acme, beta = f"acme{suffix}", f"beta{suffix}"
    days: dict[int, list[dict[str, Any]]] = {d: [] for d in range(DAYS)}
    days[0] += [
        account_record(acme, start_date="2026-08-01", renewal_date="2026-12-15"),
        stakeholder(acme, "dana@acme.com", name="Dana", role="champion"),
        account_record(beta, start_date="2026-09-01"),
    ]
    for d in range(DAYS):
        for i, user in enumerate(("ana", "bo", "cy")):
            days[d].append(login(acme, user, d + i / 24, department=["ops", "it", "hr"][i]))
            days[d].append(usage(acme, d + (i + 0.5) / 24, user_id=user, feature="abc"[i]))
        if d < 10 or d >= 35:
            days[d].append(login(acme, "dana", d + 0.2, email="dana@acme.com"))
        if d >= 2:
            days[d] += [login(beta, "x", d + 0.3), login(beta, "y", d + 0.4)]
    return days


async def test_a_history_fires_the_same_replayed_as_live(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = watermarked(database_url, broker.bootstrap)
    wall = [at(0)]
    async with scorer(settings, engine, wall, "pulse-live") as live:
        for day, signals in history("-live").items():
            wall[0] = max(s.get("ts", 0.0) for s in signals) + 60
            await live.batch(signals)
            wall[0] = at(day + 1, hours=-9) + 60  # the next midnight, the topics idle
            await live.tick()
        live_keys = await live.keys("acme-live") + await live.keys("beta-live")

    wall[0] = at(DAYS + 20)
    async with scorer(settings, engine, wall, "pulse-replay") as replay:
        signals = [s for day in history("-replay").values() for s in day]
        for first in range(0, len(signals), 200):
            await replay.batch(signals[first : first + 200])
        wall[0] += 60
        await replay.tick()
        replayed = await replay.keys("acme-replay") + await replay.keys("beta-replay")

    assert replayed == live_keys
    assert live_keys == [
        "champion_quiet:dana@acme.com:2026-09-10",
        "renewal_window:2026-12-15",
        "onboarding_stalled:first_core_feature",  # beta uses no feature at all
        "onboarding_stalled:first_login",
        "onboarding_stalled:team",
        "single_threaded:2026-09-15",
    ]
