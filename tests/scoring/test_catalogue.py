"""Every trigger type of the catalogue is known everywhere a trigger is shown: its category,
the scorecard's rule, the condition in words, and the alert's title."""

from services.alerts.messages import TITLES
from services.scoring.scorecard.model import Rules
from services.scoring.triggers.explain import CONDITIONS, THRESHOLDS
from shared.contracts.triggers import CATEGORIES

CATALOGUE = {
    "plan_limit_80", "plan_limit_100", "single_threaded", "health_red", "champion_left",
    "champion_quiet", "low_adoption", "usage_decline", "support_spike", "nps_detractor",
    "renewal_at_risk", "renewal_window", "onboarding_stalled", "login_frequency_up",
    "seat_growth", "feature_request_higher_tier", "advocacy_ready", "expansion_ready",
}  # fmt: skip


def test_every_type_of_the_catalogue_has_a_category_rule_condition_and_title() -> None:
    assert set(CATEGORIES) == CATALOGUE
    assert set(Rules.model_fields) == CATALOGUE
    assert set(CONDITIONS) == CATALOGUE
    assert set(TITLES) == CATALOGUE
    assert set(THRESHOLDS) <= CATALOGUE
