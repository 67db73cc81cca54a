"""An account's health over time, as pure functions: a history point whenever the score or
the band changes, with its cause, and the trend (the score's change over 7 and 30 days of
event time) from the scores of the days it changed.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import day_of
from shared.clock import from_ts

TREND_DAYS = (7, 30)
TREND_KEYS = {f"d{days}": days for days in TREND_DAYS}
Point = dict[str, Any]  # a health_history row


def chart(
    state: AccountState, kind: str, cause: str | None, at: float | None = None
) -> Point | None:
    """The point to store if health, judged at event time `at` (the account's clock by
    default), changed since the last one, else None. `kind`: signal (cause: its signal_id) or
    tick; a change under a new scorecard version is the scorecard's (cause: the version). A
    day before the last point's is not charted: a late event judged on a past day does not
    rewrite the history, the account's next judgement at its clock charts what it changed."""
    at = state.now if at is None else at
    today = day_of(at)
    if state.daily and today < next(reversed(state.daily)):
        return None
    score, band = state.health["score"], state.health["band"]
    version = state.health.get("scorecard_version")
    last = state.last_point
    if last and last[0] == score and last[1] == band:
        return None
    if last and last[2] != version:
        kind, cause = "scorecard", version
    state.last_point = [score, band, version]
    _remember_day(state, today, score)
    components = {name: c["score"] for name, c in state.health["components"].items()}
    return {
        "account_id": state.account_id,
        "at": from_ts(at),
        "score": score,
        "band": band,
        "components": orjson.dumps(components).decode(),
        "cause_kind": kind,
        "cause": cause[:300] if cause else None,
    }


def trend(state: AccountState) -> dict[str, int | None]:
    """{"d7", "d30"}: the score now minus the score 7 and 30 days of event time ago (None
    when the account had no score then)."""
    score, today = state.health.get("score"), day_of(state.now)
    if score is None:
        return dict.fromkeys(TREND_KEYS)
    return {key: _change(state.daily, score, today - days) for key, days in TREND_KEYS.items()}


def _change(daily: dict[int, Any], score: int, day: int) -> int | None:
    # The days ascend (chart never goes back before the last): the newest at or before `day`.
    then = next((s for d, s in reversed(daily.items()) if d <= day), None)
    return None if then is None else int(score - then)


def _remember_day(state: AccountState, today: int, score: Any) -> None:
    new_day = today not in state.daily
    state.daily[today] = score
    if new_day:
        # Days older than the longest trend go, but the last of them: the score on that day.
        # The days ascend: chart never goes back before the last.
        oldest = today - max(TREND_DAYS)
        for day in [d for d in state.daily if d < oldest][:-1]:
            del state.daily[day]
