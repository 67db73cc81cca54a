"""The reference run itself: the workload must exercise every trigger type, or the fault
tests would compare little, and it must match what the workload implies (fault_checks.py),
or every faulty run that equals it would be wrong too."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.helpers.fault_checks import assert_matches_workload
from tests.helpers.fault_workload import SMALL, WORKLOAD

# Slow with the runs they check: the clean runs are the slow job's session fixtures.
pytestmark = pytest.mark.slow


async def test_the_clean_run_fires_every_kind_of_trigger_and_delivers_each_once(
    clean: dict[str, Any],
) -> None:
    kinds = Counter(t[1] for t in clean["triggers"].values())
    assert set(kinds) == {
        "plan_limit_80",
        "plan_limit_100",
        "single_threaded",
        "health_red",
        "low_adoption",
        "usage_decline",
        "support_spike",
        "expansion_ready",
    }
    assert len(clean["slack"]) == len(clean["triggers"]) == len(clean["email"])
    assert all(n == 1 for n in (clean["slack"] + clean["email"]).values())
    # Each episode that ended told Slack once, in its alert's thread; email, never.
    replied = Counter(key for key, _ in clean["replies"])
    assert clean["resolved"] and replied == Counter(dict.fromkeys(clean["resolved"], 1))
    assert_matches_workload(clean, WORKLOAD)


async def test_the_small_clean_run_fires_triggers(clean_small: dict[str, Any]) -> None:
    # Sixteen days are too few for the fading accounts to reach red; the other types fire.
    kinds = Counter(t[1] for t in clean_small["triggers"].values())
    assert {"plan_limit_80", "single_threaded"} <= set(kinds), kinds
    assert all(n == 1 for n in (clean_small["slack"] + clean_small["email"]).values())
    assert_matches_workload(clean_small, SMALL)
