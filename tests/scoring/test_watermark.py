"""Rules judged behind the watermark (accounts/watermark.py): a history whose topics reach
scoring at very different rates fires exactly what the same events fire in event-time order,
where judging at once (the old behaviour) fires single_threaded and health_red on an account
whose logins had not come yet."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.signals import account_record, at, login, support, usage
from services.scoring.accounts.watermark import Watermarks
from services.scoring.settings import ScoringSettings
from shared.kafka import EmbeddedBroker
from tests.helpers.scoring_runs import scorer, watermarked


def test_the_watermark_is_the_least_newest_time_of_the_busy_topics() -> None:
    marks = Watermarks(idle_seconds=30)
    assert marks.of(0, 100.0) == math.inf  # nothing seen: nothing holds back
    marks.observe(0, "login", 5_000.0, 100.0)
    marks.observe(0, "support", 3_000.0, 100.0)
    marks.observe(0, "account", 0.0, 100.0)  # records carry no event time
    marks.observe(0, "login", 4_000.0, 110.0)  # a late login: heard, newest unchanged
    assert marks.of(0, 120.0) == 3_000.0  # support is behind
    assert marks.of(1, 120.0) == math.inf  # per partition
    # Support has had nothing new for 30 s of processing: it no longer holds back...
    assert marks.of(0, 130.0) == 5_000.0
    # ...and when the logins go idle too, nothing does.
    assert marks.of(0, 140.0) == math.inf
    marks.observe(0, "support", 3_500.0, 150.0)  # busy again
    assert marks.of(0, 150.0) == 3_500.0


PEOPLE = ["ana", "bo", "cy", "di", "ed"]


def history(account: str) -> dict[str, list[dict[str, Any]]]:
    """Forty days of a healthy account, by source topic: five people of two departments log
    in daily and use three features; a burst of tickets in the third week."""
    logins = [
        login(account, person, day + i / 50, department=["ops", "sales"][i % 2])
        for day in range(40)
        for i, person in enumerate(PEOPLE)
    ]
    use = [
        usage(account, day + 0.5, user_id="ana", feature=feature)
        for day in range(40)
        for feature in ("a", "b", "c")
    ]
    tickets = [support(account, 0.2, "t0", "opened", priority="low")]
    tickets += [
        support(account, 15 + i / 3, f"t{i + 1}", "opened", priority="urgent") for i in range(4)
    ]
    tickets += [support(account, 25 + i, f"t{i + 1}", "solved") for i in range(4)]
    return {"login": logins, "usage": use, "support": tickets}


async def fired_keys(
    settings: ScoringSettings, engine: AsyncEngine, account: str, batches: list[list[Any]]
) -> list[str]:
    """Score the batches in order; the trigger keys stored for the account, without its id."""
    async with scorer(settings, engine, [at(60)], f"pulse-{account}") as scoring:
        for batch in batches:
            await scoring.batch(batch)
        return await scoring.keys(account)


def live(account: str) -> list[list[Any]]:
    """Every topic's events in event-time order, in batches of 200."""
    topics = history(account)
    merged = sorted((s for events in topics.values() for s in events), key=lambda s: s["ts"])
    merged.insert(0, account_record(account, name=account, start_date="2026-08-01"))
    return [merged[i : i + 200] for i in range(0, len(merged), 200)]


def skewed(account: str) -> list[list[Any]]:
    """A backfill where each topic's first events come together, then cs.support's whole
    history, then cs.product-usage's, and cs.logins last, a day at a time."""
    topics = history(account)
    first = [topics[kind].pop(0) for kind in ("login", "usage", "support")]
    record = account_record(account, name=account, start_date="2026-08-01")
    batches = [[record, *first], topics["support"], topics["usage"]]
    logins = topics["login"]
    batches += [logins[i : i + len(PEOPLE)] for i in range(0, len(logins), len(PEOPLE))]
    return batches


async def test_a_skewed_backfill_fires_what_the_same_events_fire_in_order(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = watermarked(database_url, broker.bootstrap)
    in_order = await fired_keys(settings, engine, "live", live("live"))
    assert in_order == ["support_spike:2026-09-17"]
    backfilled = await fired_keys(settings, engine, "back", skewed("back"))
    assert backfilled == in_order


async def test_judging_at_once_misjudges_the_same_backfill(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    """No watermark (every topic idle at once): the account is judged on its tickets and
    usage alone while its logins wait, as before the watermark."""
    settings = watermarked(database_url, broker.bootstrap, idle_seconds=0)
    backfilled = await fired_keys(settings, engine, "eager", skewed("eager"))
    assert backfilled == [
        "health_red:2026-09-16",
        "low_adoption:2026-09-01",
        "single_threaded:2026-09-01",
        "support_spike:2026-09-17",
        "usage_decline:2026-09-29",
        "usage_decline:2026-10-10",
    ]


async def test_an_account_left_waiting_is_judged_once_the_topics_go_idle(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    settings = watermarked(database_url, broker.bootstrap)
    wall = [at(60)]
    async with scorer(settings, engine, wall, "pulse-idle") as scoring:
        record = account_record("acme", start_date="2026-08-01")
        await scoring.batch([record, login("acme", "ana", 0), support("acme", 10, "t1", "opened")])
        acme = scoring.processor.accounts.borrow("acme")
        # Judged at the login; the ticket, ten days ahead of the logins, waits; its health
        # is up to date all the same.
        assert list(acme.waiting) == [20707] and acme.rules["single_threaded"]["state"] == "pending"
        assert acme.health["components"]["support"]["inputs"]["open_tickets"] == 1
        assert REGISTRY.get_sample_value("pulse_scoring_accounts_waiting") == 1
        wall[0] += 29
        await scoring.idle()
        assert scoring.processor.accounts.borrow("acme").waiting  # within idle_seconds
        wall[0] += 2
        await scoring.idle()  # a turn without records, the topics idle
        acme = scoring.processor.accounts.borrow("acme")
        assert not acme.waiting and not scoring.processor.waiting
        assert REGISTRY.get_sample_value("pulse_scoring_accounts_waiting") == 0
        # Judged at its clock, the ticket's day: one person for ten days.
        assert acme.rules["single_threaded"]["state"] == "firing"
        assert "single_threaded:2026-09-01" in await scoring.keys("acme")


async def test_the_tick_moves_no_clock_past_the_watermark(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker
) -> None:
    """A backfill under way: the logins have come as far as 09-01, weeks behind the wall
    clock. The tick leaves the account at its history's day until the logins go idle."""
    settings = watermarked(database_url, broker.bootstrap)
    wall = [at(60)]
    async with scorer(settings, engine, wall, "pulse-held") as scoring:
        await scoring.batch([login("acme", "ana", 0), login("beta", "bo", 0)])
        await scoring.tick()
        processor = scoring.processor
        assert processor.accounts.borrow("acme").now == at(0)
        assert sorted(processor._held) == ["acme", "beta"]
        wall[0] += 31  # the logins are idle: nothing holds the tick back
        await scoring.tick()
        # Judged where its live window ended, the day after its last login.
        assert processor.accounts.borrow("acme").now == at(1)
        assert processor._held == []


@pytest.mark.parametrize("idle_seconds", [0, 30])
async def test_a_signal_with_a_bad_event_time_moves_no_watermark(
    engine: AsyncEngine, database_url: str, broker: EmbeddedBroker, idle_seconds: int
) -> None:
    """It is dead-lettered, and the good signals after it are applied as if it never came,
    with the watermark on or off."""
    settings = watermarked(database_url, broker.bootstrap, idle_seconds)
    async with scorer(settings, engine, [at(60)], "pulse-bad-time") as scoring:
        bad = {**login("acme", "ana", 0), "ts": "yesterday"}
        await scoring.batch([bad, login("acme", "ana", 1), login("acme", "bo", 2)])
        acme = scoring.processor.accounts.borrow("acme")
        assert sorted(acme.by_user) == ["ana", "bo"] and acme.now == at(2)
        if idle_seconds:
            assert scoring.processor.watermarks.of(0, at(60)) == at(2)
