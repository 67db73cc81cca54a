"""What a scorecard holds (docs/scorecard.md): core features, plans, health bands and weights,
every rule's parameters, and playbooks. One `Card` per tier, resolved once (loading.py).

Every field is required here: a file is merged over the built-in default before it is
validated, so what a file leaves out has its default's value. Types are strict (a number in
quotes is an error, not a number), unknown keys are errors, and thresholds have ranges.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["info", "warning", "critical"]
Role = Literal["champion", "executive_sponsor", "economic_buyer", "decision_maker", "user"]

Days = Field(ge=1, le=3650)
Ratio = Field(gt=0, le=100)
Share = Field(gt=0, lt=1)
Count = Field(ge=1, le=100_000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Rule(_Strict):
    enabled: bool
    severity: Severity


class PlanLimit(Rule):
    fire_ratio: float = Ratio
    rearm_ratio: float = Ratio

    @model_validator(mode="after")
    def _rearm_below_fire(self) -> Self:
        if self.rearm_ratio >= self.fire_ratio:
            raise ValueError("rearm_ratio must be below fire_ratio")
        return self


class SingleThreaded(Rule):
    min_engaged: int = Count
    hold_days: int = Days
    engaged_window_days: int = Days
    grace_days: int = Field(ge=0, le=3650)


class HealthRed(Rule):
    rearm_margin: int = Field(ge=0, le=100)


class ChampionLeft(Rule):
    roles: list[Role] = Field(min_length=1)


class ChampionQuiet(Rule):
    roles: list[Role] = Field(min_length=1)
    quiet_days: int = Days
    others_active_days: int = Days


class LowAdoption(Rule):
    after_days: int = Field(ge=0, le=3650)
    min_core_features: int = Count
    window_days: int = Days


class UsageDecline(Rule):
    min_baseline: int = Count
    drop: float = Share
    rearm_drop: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _rearm_below_drop(self) -> Self:
        if self.rearm_drop >= self.drop:
            raise ValueError("rearm_drop must be below drop")
        return self


class SupportSpike(Rule):
    min_tickets: int = Count
    factor: float = Ratio
    cooldown_days: int = Days


class NpsDetractor(Rule):
    max_score: int = Field(ge=0, le=10)


class RenewalWindow(Rule):
    days: int = Days


class OnboardingStalled(Rule):
    active_days: int = Days
    first_login_hours: int = Field(ge=1, le=8760)
    first_core_feature_hours: int = Field(ge=1, le=8760)
    team_size: int = Count
    team_days: int = Days


class LoginFrequencyUp(Rule):
    min_users: int = Count
    daily_days: int = Field(ge=1, le=14)
    cooldown_days: int = Days


class SeatGrowth(Rule):
    min_added: int = Count
    min_ratio: float = Ratio
    cooldown_days: int = Days


class AdvocacyReady(Rule):
    min_score: int = Field(ge=0, le=10)


class ExpansionReady(Rule):
    min_core_features: int = Count
    cooldown_days: int = Days


class Rules(_Strict):
    plan_limit_80: PlanLimit
    plan_limit_100: PlanLimit
    single_threaded: SingleThreaded
    health_red: HealthRed
    champion_left: ChampionLeft
    champion_quiet: ChampionQuiet
    low_adoption: LowAdoption
    usage_decline: UsageDecline
    support_spike: SupportSpike
    nps_detractor: NpsDetractor
    renewal_at_risk: Rule
    renewal_window: RenewalWindow
    onboarding_stalled: OnboardingStalled
    login_frequency_up: LoginFrequencyUp
    seat_growth: SeatGrowth
    feature_request_higher_tier: Rule
    advocacy_ready: AdvocacyReady
    expansion_ready: ExpansionReady


TRIGGER_TYPES = tuple(Rules.model_fields)


class Bands(_Strict):
    green_from: int = Field(ge=0, le=100)
    red_below: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _red_below_green(self) -> Self:
        if self.red_below > self.green_from:
            raise ValueError("red_below must not be above green_from")
        return self


Weight = Field(gt=0, le=1000)


class Weights(_Strict):
    adoption: float = Weight
    engagement: float = Weight
    activity: float = Weight
    relationship: float = Weight
    support: float = Weight
    sentiment: float = Weight

    @functools.cached_property
    def table(self) -> tuple[tuple[str, float, int | float], ...]:
        """(component, weight, weight as written: 25 rather than 25.0), in the file's order;
        worked out once per scorecard, not at every evaluation."""
        weights = ((name, float(getattr(self, name))) for name in type(self).model_fields)
        return tuple((name, w, int(w) if w.is_integer() else w) for name, w in weights)


class Health(_Strict):
    bands: Bands
    weights: Weights


class Plan(_Strict):
    name: str = Field(min_length=1)
    features: list[str]


TriggerType = Literal[
    "plan_limit_80",
    "plan_limit_100",
    "single_threaded",
    "health_red",
    "champion_left",
    "champion_quiet",
    "low_adoption",
    "usage_decline",
    "support_spike",
    "nps_detractor",
    "renewal_at_risk",
    "renewal_window",
    "onboarding_stalled",
    "login_frequency_up",
    "seat_growth",
    "feature_request_higher_tier",
    "advocacy_ready",
    "expansion_ready",
]


class CoreFeatures:
    """The scorecard's core_features globs, compiled once per scorecard."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        self.globs = globs
        pattern = "|".join(fnmatch.translate(g) for g in globs)
        self._match = re.compile(pattern).match if globs else None

    def match(self, feature: str) -> bool:
        return self._match is None or self._match(feature) is not None


class Card(_Strict):
    """The scorecard one tier's accounts are judged by, with the version of the file it came
    from (set by loading.py, never by the file)."""

    core_features: list[str]
    plans: list[Plan]
    health: Health
    rules: Rules
    playbooks: dict[TriggerType, str]
    version: str = Field(default="", exclude=True)

    @functools.cached_property
    def core(self) -> CoreFeatures:
        """core_features, compiled: scoring matches features against them at every event."""
        return CoreFeatures(tuple(self.core_features))

    @field_validator("plans")
    @classmethod
    def _plans_named_once(cls, plans: list[Plan]) -> list[Plan]:
        names = [plan.name.lower() for plan in plans]
        if len(names) != len(set(names)):
            raise ValueError("each plan name may appear once (names match ignoring case)")
        return plans
