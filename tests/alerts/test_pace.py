"""Slack's pace: about one post a second per channel. Posts to a busy channel wait their turn
(or are put off to it, without counting as a try); other channels are not held up."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.senders import DeliveryError
from services.alerts.senders.pace import Pace
from services.cli import UpSettings
from tests.helpers.alert_factories import SAM, finished, produce, rows, running, trigger

Settings = Callable[..., UpSettings]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_channel_gets_one_turn_a_second_and_others_are_free() -> None:
    clock = Clock()
    pace = Pace(1.0, wait_at_most=1.5, clock=clock)
    assert pace.turn("U1") == 0.0
    assert pace.turn("U1") == 1.0  # waits for the next second
    assert pace.turn("C2") == 0.0  # another channel goes at once
    with pytest.raises(DeliveryError) as put_off:
        pace.turn("U1")  # two seconds off: put off, not waited for
    assert put_off.value.retry_after == 2.0 and not put_off.value.counts
    clock.now += 5
    assert pace.turn("U1") == 0.0


def test_no_pacing_at_zero() -> None:
    pace = Pace(0, wait_at_most=0)
    assert [pace.turn("U1") for _ in range(3)] == [0.0, 0.0, 0.0]


async def test_a_burst_to_one_csm_is_spread_out_and_lost_nowhere(
    alert_settings: Settings, engine: AsyncEngine, slack_server: SlackServer
) -> None:
    settings = alert_settings(smtp_host=None, slack_channel_interval_seconds=1.0)
    burst = [trigger(type=kind) for kind in ("plan_limit_80", "single_threaded", "health_red")]
    other = {"name": "Globex", "plan": {"limits": {}}, "csm": {**SAM, "slack": "U0OTHER"}}
    aside = trigger("globex", account=other)
    async with running(settings, engine):
        await produce(settings, *burst, aside)
        for event in [*burst, aside]:
            await wait_for(lambda e=event: finished(engine, e["dedup_key"], "slack"))

    assert {r["status"] for r in await rows(engine)} == {"delivered"}
    to_sam = sorted(r.at for r in slack_server.posted() if r.body["channel"] == "U024BE7LH")
    assert len(to_sam) == 3
    assert all(b - a >= 0.95 for a, b in pairwise(to_sam))
    [to_other] = [r.at for r in slack_server.posted() if r.body["channel"] == "U0OTHER"]
    assert to_other < to_sam[-1]  # not queued behind Sam's burst
