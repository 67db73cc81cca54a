"""The scorecard file (docs/scorecard.md): merged over the built-in default, resolved per tier,
and refused with every problem named by its line and key."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

import pytest

from harness.signals import account_record, usage
from services.alerts.messages import title
from services.scoring.accounts.apply import apply_signal
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.scorecard.loading import DEFAULT_TEXT, Scorecard, ScorecardError, load, parse
from services.scoring.settings import ScoringSettings
from shared.contracts.signals import Signal
from shared.errors import ConfigurationError
from tests.helpers.processes import run_pulse


def test_the_built_in_scorecard_has_every_rule_and_its_version_is_its_texts() -> None:
    card = load(None)
    assert card.version == hashlib.sha256(DEFAULT_TEXT.encode()).hexdigest()[:12]
    rules = card.top.rules
    assert (rules.plan_limit_80.fire_ratio, rules.plan_limit_80.rearm_ratio) == (0.8, 0.7)
    assert rules.single_threaded.min_engaged == 3 and rules.single_threaded.grace_days == 14
    assert (card.top.health.bands.green_from, card.top.health.bands.red_below) == (70, 40)
    assert set(card.top.playbooks) == set(type(rules).model_fields)  # a step for every type
    # Tier 1 gets 120 days of renewal window, every other tier the top level's 90.
    assert card.for_tier(1).rules.renewal_window.days == 120
    assert card.for_tier(2).rules.renewal_window.days == 90
    assert card.for_tier(None).rules.renewal_window.days == 90


def test_a_file_sets_what_it_names_and_keeps_the_default_for_the_rest() -> None:
    text = b"""
rules:
  single_threaded: {min_engaged: 2}
tiers:
  "3": {rules: {single_threaded: {enabled: false}}}
  "1": {health: {bands: {green_from: 80}}}
"""
    card = parse(text, "team.yaml")
    assert card.version == hashlib.sha256(text).hexdigest()[:12]
    assert card.top.rules.single_threaded.min_engaged == 2
    assert card.top.rules.single_threaded.hold_days == 7  # not named: the default's
    tier3 = card.for_tier(3).rules.single_threaded
    assert (tier3.enabled, tier3.min_engaged) == (False, 2)  # over the file's top level
    assert card.for_tier(1).health.bands.green_from == 80
    assert card.for_tier(1).rules.renewal_window.days == 120  # the default's tier 1 stays
    assert card.for_tier(2).rules.single_threaded.enabled is True


ERRORS = [
    ("rules: [1, 2\n", 2, "not valid YAML"),
    ("- a list\n", 1, "a scorecard is a mapping"),
    ("rules:\n  single_threaded:\n    hold_dayz: 7\n", 3, "single_threaded.hold_dayz: unknown key"),
    ("colour: blue\n", 1, "colour: unknown key"),
    ("rules:\n  single_threaded: {min_engaged: '3'}\n", 2, "min_engaged: Input should be a valid"),
    ("rules:\n  nps_detractor:\n    max_score: 11\n", 3, "nps_detractor.max_score: Input should"),
    ("rules:\n  plan_limit_80: {fire_ratio: 0.6}\n", 2, "rearm_ratio must be below fire_ratio"),
    ("health:\n  weights:\n    support: 0\n", 3, "health.weights.support: Input should be"),
    ("health:\n  bands: {green_from: 30}\n", 2, "red_below must not be above green_from"),
    ("tiers:\n  gold: {}\n", 2, "tiers.gold: a tier is a positive whole number"),
    ("tiers:\n  '2':\n    rules: {health_red: {severity: x}}\n", 3, "2.rules.health_red.severity"),
    ("playbooks:\n  churn_soon: call them\n", 2, "playbooks.churn_soon: not a trigger type"),
    ("plans:\n  - {name: Pro, features: []}\n  - {name: pro, features: []}\n", 1, "plans: Value"),
]


@pytest.mark.parametrize(("text", "line", "says"), ERRORS)
def test_each_kind_of_error_names_its_line_and_key(text: str, line: int, says: str) -> None:
    with pytest.raises(ScorecardError) as refused:
        parse(text.encode(), "team.yaml")
    [problem] = str(refused.value).splitlines()
    assert problem.startswith(f"team.yaml:{line}: "), problem
    assert says in problem


def test_every_problem_of_a_file_is_named_at_once_and_a_tier_repeats_none() -> None:
    text = b"rules:\n  single_threaded: {min_engaged: 0}\nplaybooks: {nope: x}\ntiers: {'2': {}}\n"
    with pytest.raises(ScorecardError) as refused:
        parse(text, "team.yaml")
    at_least_one = "Input should be greater than or equal to 1"
    assert str(refused.value).splitlines() == [
        f"team.yaml:2: rules.single_threaded.min_engaged: {at_least_one}",
        "team.yaml:3: playbooks.nope: not a trigger type of the catalogue (docs/contract.md)",
    ]


async def test_pulse_scorecard_shows_the_default_and_checks_a_file(tmp_path: Path) -> None:
    shown = await run_pulse("scorecard", "show", env={})
    assert shown.code == 0 and shown.out == DEFAULT_TEXT
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("tiers: {'3': {rules: {single_threaded: {enabled: false}}}}\n")
    bad.write_text("rules:\n  renewal_window: {days: 0}\n")
    checked = await run_pulse("scorecard", "check", str(good), env={})
    version = load(good).version
    assert checked.code == 0
    assert checked.out == f"{good}: valid, version {version}, tier overrides: 1, 3\n"
    refused = await run_pulse("scorecard", "check", str(bad), env={})
    assert refused.code == 2
    assert f"{bad}:2: rules.renewal_window.days: Input should be greater than" in refused.err


def _usage_at(scorecard: Scorecard, tier: int, used: float) -> list[str]:
    """The trigger types an account of `tier` on a 100-call plan fires when it uses `used`."""
    state = AccountState(f"tier{tier}", 0)
    fired = []
    for signal in (
        account_record(state.account_id, {"api_calls": 100}, tier=tier),
        usage(state.account_id, 1, metric="api_calls", value=used),
    ):
        fired += apply_signal(state, cast(Signal, signal), scorecard, DedupWindow(3600), arrived=0)
    return [t.type for t in fired]


def test_a_tier_override_changes_that_tiers_accounts_and_no_others() -> None:
    text = b"tiers:\n  '1': {rules: {plan_limit_80: {fire_ratio: 0.5, rearm_ratio: 0.4}}}\n"
    scorecard = parse(text, "t.yaml")
    assert _usage_at(scorecard, 1, 60) == ["plan_limit_80"]
    assert _usage_at(scorecard, 2, 60) == []
    assert _usage_at(scorecard, 2, 85) == ["plan_limit_80"]


def test_a_trigger_says_its_threshold_and_carries_the_version_and_playbook() -> None:
    scorecard = parse(b"rules:\n  plan_limit_80: {fire_ratio: 0.9, rearm_ratio: 0.8}\n", "t.yaml")
    state, plan = AccountState("acme", 0), account_record("acme", {"api_calls": 100})
    apply_signal(state, cast(Signal, plan), scorecard, DedupWindow(1), arrived=0)
    at_85 = usage("acme", 1, metric="api_calls", value=85)
    assert apply_signal(state, cast(Signal, at_85), scorecard, DedupWindow(1), arrived=0) == []
    at_95 = usage("acme", 1, metric="api_calls", value=10)
    [trigger] = apply_signal(state, cast(Signal, at_95), scorecard, DedupWindow(1), arrived=0)
    assert trigger.details["fire_ratio"] == 0.9
    assert trigger.scorecard_version == scorecard.version
    assert trigger.playbook == scorecard.top.playbooks["plan_limit_80"]
    assert state.health["scorecard_version"] == scorecard.version
    assert title(trigger) == "Plan limit 90% reached"


@pytest.mark.parametrize(
    ("name", "now"),
    [
        ("PULSE_RULE_PLAN_LIMIT_FIRE_RATIO", "rules.plan_limit_80.fire_ratio"),
        ("PULSE_RULE_HEALTH_RED_BELOW", "health.bands.red_below"),
    ],
)
def test_a_rule_variable_left_set_is_refused_with_the_key_it_became(
    monkeypatch: pytest.MonkeyPatch, name: str, now: str
) -> None:
    monkeypatch.setenv(name, "0.9")
    with pytest.raises(ConfigurationError, match=f"{name} is no longer read: set {now}"):
        ScoringSettings()
