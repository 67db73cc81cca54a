"""Applying one signal to an account: the pure core of scoring.

`apply_signal` changes the account's state, recomputes its health and evaluates the trigger
rules, in event time, and returns the triggers that fired. No I/O happens here.
"""

from __future__ import annotations

import bisect
import math

from services.scoring.accounts import daymask
from services.scoring.accounts.state import (
    CSAT_KEPT,
    DAY_MASKS,
    OPENINGS_KEPT,
    RECORDS_KEPT,
    RESPONDENTS_KEPT,
    AccountState,
    DedupWindow,
    signal_key,
)
from services.scoring.accounts.time import DAY, day_of, month_of
from services.scoring.health.score import compute_health, is_engaged, roster
from services.scoring.scorecard.loading import Scorecard
from services.scoring.scorecard.model import Card
from services.scoring.triggers.days import check_days
from services.scoring.triggers.expansion import check_expansion_ready, may_become_ready
from services.scoring.triggers.lifecycle import check_onboarding, check_renewal, in_onboarding
from services.scoring.triggers.moments import (
    champion_left,
    feature_requested,
    support_spike,
    survey_answered,
)
from services.scoring.triggers.relationship import check_champion_quiet
from services.scoring.triggers.rules import (
    ADOPTION_GATE_DAYS,
    check_health_red,
    check_plan_limits,
    check_single_threaded,
    end_removed_limits,
    health_of,
)
from shared.contracts.signals import (
    EventSignal,
    LoginSignal,
    RecordSignal,
    Signal,
    SupportSignal,
    SurveySignal,
    UsageSignal,
)
from shared.contracts.triggers import TriggerEvent

PERSON_FIELDS = ("name", "title", "department", "role", "status")
MONTHS_KEPT = 14


def apply_signal(
    state: AccountState,
    signal: Signal,
    scorecard: Scorecard,
    dedup: DedupWindow,
    *,
    arrived: float,
    judge_until: float = math.inf,
    skip_quiet: bool = True,
) -> list[TriggerEvent]:
    """Apply one signal that arrived (was published to cs.signals) at `arrived`, epoch
    seconds; a signal_id seen before changes nothing and fires nothing. The id is remembered
    once the signal is applied: one that raises leaves no id behind, so its corrected resend
    counts (the processor puts back the rest of the account).

    `skip_quiet=False` evaluates every event, quiet ones too (is_quiet): what skipping them
    must give exactly, as the tests check.

    The rules judge the account at its clock only if the clock is not past `judge_until`
    (the watermark, accounts/watermark.py) and nothing older waits; otherwise the event's day
    is left in `state.waiting`, for the processor to judge once the watermark has come that
    far, and only health is brought up to date. The rules of one moment (a ticket's spike, a
    survey answer, a plan limit at a usage event) judge the event at once, at its own time."""
    key = signal_key(signal["signal_id"])
    if state.knows(key):
        return []
    fired = _apply(state, signal, scorecard, judge_until, skip_quiet)
    state.keep(key, arrived, dedup)
    return fired


def card_of(state: AccountState, scorecard: Scorecard) -> Card:
    """The scorecard of the account's tier."""
    return scorecard.for_tier((state.profile or {}).get("tier"))


def _apply(
    state: AccountState, signal: Signal, scorecard: Scorecard, judge_until: float, skip_quiet: bool
) -> list[TriggerEvent]:
    if signal["kind"] == "account" or signal["kind"] == "stakeholder":
        return _apply_record(state, signal, scorecard, judge_until)
    rules = card_of(state, scorecard)
    ts = float(signal["ts"])
    deferred = bool(state.waiting) or max(state.now, ts) > judge_until
    quiet = not deferred and skip_quiet and is_quiet(state, signal, ts, rules)
    state.advance(ts)
    state.newest = max(state.newest, ts)
    touched: list[str] = []
    opened = False
    if signal["kind"] == "usage":
        touched = _apply_usage(state, signal, ts, rules)
    elif signal["kind"] == "login":
        touched = _apply_login(state, signal, ts)
    elif signal["kind"] == "support":
        opened = _apply_support(state, signal, ts)
    elif signal["kind"] == "survey":
        _apply_survey(state, signal, ts)
    else:
        raise ValueError(f"unknown signal kind {signal['kind']!r}")
    if deferred:
        fired = _defer(state, signal["signal_id"], touched, ts, rules)
    elif quiet:
        return _limits_only(state, touched, ts, rules)
    else:
        fired = evaluate(state, state.now, rules, metrics=touched, metrics_at=ts)
    if signal["kind"] == "support":
        moments = [feature_requested(state, signal, rules)]
        if opened:
            moments.append(support_spike(state, ts, rules))
        fired += _with_health(state, [t for t in moments if t], rules)
    elif signal["kind"] == "survey":
        if state.health_stale:  # a promoter counts on a green account
            refresh_health(state, rules)
        fired += survey_answered(state, signal, respondent_of(signal), rules)
    return fired


def is_quiet(
    state: AccountState,
    signal: EventSignal,
    ts: float,
    rules: Card,
) -> bool:
    """Whether an event can only raise health and leave every rule's condition as it is:
    usage or a login, on the account's current day, by someone already engaged (with no new
    department) who is not a quiet champion, while health_red is not firing, past onboarding,
    with no expansion signal waiting for a green band, and no feature unused in the last 30
    days (which may open the adoption gate or end low_adoption). Most events are; skipping
    the evaluation for them gives the same scores and triggers at a fraction of the cost."""
    if signal["kind"] == "support" or signal["kind"] == "survey" or state.now == 0.0:
        return False
    today = day_of(state.now)
    if day_of(ts) != today or state.rules.get("health_red", {}).get("state") == "firing":
        return False
    if in_onboarding(state, state.now, rules):  # a deadline may pass within the day
        return False
    if may_become_ready(state, state.now, rules):  # rising health may make it green
        return False
    user_id = signal.get("user_id")
    if user_id is None:
        return True
    pid = state.by_user.get(user_id)
    person = state.people.get(pid) if pid else None
    window = rules.rules.single_threaded.engaged_window_days
    if person is None or not is_engaged(person, today, window):
        return False
    if person.get("email") in state.rules.get("champion_quiet", {}):
        return False
    if signal["kind"] == "usage":
        return not _fresh_feature(state, signal, today, rules)
    email = signal.get("email")
    if email and person.get("email") != email:
        return False
    department = signal.get("department")
    return not department or department == person.get("department")


def _fresh_feature(state: AccountState, signal: EventSignal, today: int, rules: Card) -> bool:
    """Whether a usage event names a feature not used within the adoption gate's window or
    low_adoption's, core or not (a needless evaluation costs less than a missed one)."""
    feature = signal.get("feature")
    if not isinstance(feature, str):
        return False
    window = min(ADOPTION_GATE_DAYS, rules.rules.low_adoption.window_days)
    first_ts = (today - window + 1) * DAY
    return state.features.get(feature, 0.0) < first_ts


def _limits_only(
    state: AccountState, metrics: list[str], ts: float, rules: Card
) -> list[TriggerEvent]:
    """Judge only the plan limits of `metrics`, and leave health to be scored later (a quiet
    event, or one behind the watermark)."""
    state.health_stale = True
    return _with_health(
        state, [t for m in metrics for t in check_plan_limits(state, m, ts, rules)], rules
    )


def _with_health(state: AccountState, fired: list[TriggerEvent], rules: Card) -> list[TriggerEvent]:
    """The triggers with the account's health after the event, brought up to date if it lags
    (rare: only when something fired)."""
    if not fired or not state.health_stale:
        return fired
    refresh_health(state, rules)
    return [trigger.model_copy(update={"health": health_of(state)}) for trigger in fired]


def _defer(
    state: AccountState, signal_id: str, metrics: list[str], ts: float, rules: Card
) -> list[TriggerEvent]:
    """Leave the event's day for the processor to judge later (and remember that an event on
    a past day changed what the day rules read). Health is scored when the rules judge, or
    when the account is stored, whichever comes first (health_stale)."""
    day = day_of(ts)
    # Judged at the day's latest event: whatever became true during the day (a plan limit
    # reached by the day's last usage event, say) has, as live processing judging each event
    # would have found it on that day.
    if ts >= state.waiting.get(day, ts):
        state.waiting[day] = ts
        state.causes[day] = signal_id
    if day < day_of(state.now):
        state.judged = (-1, None)
    return _limits_only(state, metrics, ts, rules)


def refresh_health(state: AccountState, rules: Card) -> None:
    """Health as of the account's event time (after quiet events were applied)."""
    state.health = compute_health(state, state.now, rules)
    state.health_stale = False


def evaluate(
    state: AccountState,
    at: float,
    rules: Card,
    *,
    metrics: list[str] | tuple[str, ...] = (),
    metrics_at: float = 0.0,
) -> list[TriggerEvent]:
    """Recompute health at event time `at`, then run the rules: plan limits for `metrics` in
    the period of `metrics_at` (an event's own time), and the time-dependent ones at `at`.
    Health comes first so every trigger carries the health the account has after the event."""
    people = roster(
        state, at, rules.rules.single_threaded.engaged_window_days, rules.rules.champion_quiet.roles
    )
    state.health = compute_health(state, at, rules, people)
    state.health_stale = False
    fired = [t for m in metrics for t in check_plan_limits(state, m, metrics_at, rules)]
    if state.now > 0.0:  # before any event there is no event time to judge by
        if trigger := check_single_threaded(state, at, rules, people.engaged):
            fired.append(trigger)
        if trigger := check_health_red(state, at, rules):
            fired.append(trigger)
        late = metrics_at > 0.0 and day_of(metrics_at) < day_of(at)
        fired += check_days(state, at, rules, late)
        fired += check_champion_quiet(state, at, rules, people.keys)
        fired += check_renewal(state, at, rules)
        fired += check_onboarding(state, at, rules)
        # Last: the expansion signals fired just now count.
        if trigger := check_expansion_ready(state, at, rules):
            fired.append(trigger)
    return fired


def _seen(state: AccountState, ts: float, user_id: str | None, email: str | None) -> bool:
    """Mark a person active at ts; True if this is their first activity in that month."""
    person = state.person(user_id=user_id, email=email)
    person["last_seen"] = max(person["last_seen"], ts)
    person["act"] = daymask.mark(person.get("act"), day_of(ts), DAY_MASKS["act"])
    month = month_of(ts)
    if month in person["months"]:
        return False
    person["months"] = sorted([*person["months"], month])[-MONTHS_KEPT:]
    return True


def _apply_usage(state: AccountState, signal: UsageSignal, ts: float, rules: Card) -> list[str]:
    touched = []
    state.active_at(ts)
    day = day_of(ts)
    state.activity[day] = state.activity.get(day, 0) + 1
    if signal.get("user_id") and _seen(state, ts, signal["user_id"], None):
        touched.append("seats")
    if feature := signal.get("feature"):
        state.features[feature] = max(state.features.get(feature, 0.0), ts)
        if ts < state.firsts.get("core", ts + 1) and rules.core.match(feature):
            state.firsts["core"] = ts
    if metric := signal.get("metric"):
        value = float(signal["value"])
        if signal.get("mode", "delta") == "absolute":
            # A gauge keeps its newest reading by event time; late readings are history.
            if metric not in state.gauges or ts >= state.gauges[metric][1]:
                state.gauges[metric] = [value, ts]
        else:
            months = state.usage.setdefault(metric, {})
            months[month_of(ts)] = months.get(month_of(ts), 0.0) + value
        touched.append(metric)
    return touched


def _apply_login(state: AccountState, signal: LoginSignal, ts: float) -> list[str]:
    state.active_at(ts)
    day = day_of(ts)
    state.activity[day] = state.activity.get(day, 0) + 1
    first_this_month = _seen(state, ts, signal["user_id"], signal.get("email"))
    person = state.person(user_id=signal["user_id"], email=signal.get("email"))
    person["logins"] = daymask.mark(person.get("logins"), day, DAY_MASKS["logins"])
    state.firsts["login"] = min(state.firsts.get("login", ts), ts)
    for key in ("title", "department"):
        if signal.get(key):
            person[key] = signal[key]
    return ["seats"] if first_this_month else []


def _apply_support(state: AccountState, signal: SupportSignal, ts: float) -> bool:
    """Whether the event opened a ticket (counted once, however often it is sent)."""
    ticket = state.tickets.setdefault(
        signal["ticket_id"],
        {"status": "open", "priority": "normal", "category": "other", "opened": ts, "updated": 0.0},
    )
    opened = signal["status"] == "opened" and not ticket.get("counted")
    if opened:
        ticket["counted"] = True
        day = day_of(ts)
        state.opened_days[day] = state.opened_days.get(day, 0) + 1
        bisect.insort(state.openings, ts)
        del state.openings[:-OPENINGS_KEPT]
    if ts >= ticket["updated"]:
        status = signal["status"]
        if status in ("solved", "closed"):
            ticket["status"] = "closed"
        elif status in ("opened", "reopened"):
            ticket["status"] = "open"
        # An update that does not restate priority or category keeps what the ticket had.
        for key in ("priority", "category"):
            if signal.get(key):
                ticket[key] = signal[key]
        ticket["updated"] = ts
    if signal.get("requested_feature"):
        ticket["requested_feature"] = signal["requested_feature"]
    if "csat" in signal:
        state.csat = sorted([*state.csat, [ts, float(signal["csat"])]])[-CSAT_KEPT:]
    return opened


def _apply_survey(state: AccountState, signal: SurveySignal, ts: float) -> None:
    """Keep each respondent's latest NPS answer and the latest CSAT answers (sentiment)."""
    score = float(signal["score"])
    if signal["survey"] == "csat":
        state.survey_csat = sorted([*state.survey_csat, [ts, score]])[-CSAT_KEPT:]
        return
    respondent = respondent_of(signal)
    if ts >= state.nps.get(respondent, (0.0, 0.0))[0]:
        state.nps[respondent] = [ts, score]
    if len(state.nps) > RESPONDENTS_KEPT:
        oldest = min(state.nps, key=lambda r: state.nps[r][0])
        del state.nps[oldest]


def respondent_of(signal: SurveySignal) -> str:
    """The lower-cased email, else the user_id (docs/contract.md, the trigger catalogue)."""
    email = signal.get("email")
    return email.lower() if email else signal.get("user_id", "")


def _apply_record(
    state: AccountState, signal: RecordSignal, scorecard: Scorecard, judge_until: float
) -> list[TriggerEvent]:
    """CRM records replace what they describe; they carry no event time: the account is
    judged at its clock, or left waiting like an event when its clock is past the
    watermark."""
    body = {k: v for k, v in signal.items() if k not in ("kind", "signal_id")}
    state.recent_records = [*state.recent_records, signal["signal_id"]][-RECORDS_KEPT:]
    if signal["kind"] == "account":
        state.profile = body
        rules = card_of(state, scorecard)  # of the tier the record gives
        ended = end_removed_limits(state, rules, state.now)
        # A new plan can put any metric over (or back under) its limit, in the current period.
        limits = list(state.plan.get("limits", {}))
        if state.waiting or state.now > judge_until:
            return ended + _defer(state, signal["signal_id"], limits, state.now, rules)
        return ended + evaluate(state, state.now, rules, metrics=limits, metrics_at=state.now)
    person = state.person(email=signal["email"])
    role_before = person.get("role")
    for key in PERSON_FIELDS:
        person[key] = body.get(key)
    rules = card_of(state, scorecard)
    fired = (
        _defer(state, signal["signal_id"], [], state.now, rules)
        if state.waiting or state.now > judge_until
        else evaluate(state, state.now, rules)
    )
    if trigger := champion_left(state, person, role_before, rules):
        fired += _with_health(state, [trigger], rules)
    return fired
