"""What a fault run must have produced: the same as the clean run, record by record
(assert_same), and what the workload implies, worked out from the workload alone, never from
a run (assert_matches_workload): each account's usage per plan period, the plan-limit
triggers, the triggers each account's profile implies or rules out, and one alert per trigger
and receiver. A run that equals the clean run but not the workload is wrong in both."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tests.helpers.fault_workload import Workload

FIRE_RATIOS = {"plan_limit_80": 0.8, "plan_limit_100": 1.0}  # the defaults (docs/triggers.md)


def usage_by_period(workload: Workload) -> dict[str, dict[str, float]]:
    """account_id -> month ("2026-09") -> api_calls used, each event counted once."""
    used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen: set[str] = set()
    for step in workload.steps:
        for _, event in step:
            if "metric" in event and event["event_id"] not in seen:
                seen.add(event["event_id"])
                used[event["account_id"]][event["occurred_at"][:7]] += event["value"]
    return used


def plan_limit_keys(workload: Workload, kind: str = "plan_limit_80") -> set[str]:
    """The dedup_keys of plan_limit_80 (or plan_limit_100): one per account and month that
    reached 80% (or all) of its limit."""
    ratio = FIRE_RATIOS[kind]
    limits = {a["account_id"]: a["plan"]["limits"]["api_calls"] for a in workload.accounts}
    return {
        f"{account_id}:{kind}:api_calls:{month}"
        for account_id, months in usage_by_period(workload).items()
        for month, used in months.items()
        if used >= ratio * limits[account_id]
    }


def assert_matches_workload(result: dict[str, Any], workload: Workload) -> None:
    """A run's snapshot (fault_runs.snapshot) against the workload's ground truth."""
    used = usage_by_period(workload)
    for account_id, account in result["accounts"].items():
        view = account["account"]["usage"]["api_calls"]
        want = used[account_id].get(view["period"], 0.0)
        assert view["used"] == want, f"{account_id} used {view['used']} in {view['period']}"

    fired = result["triggers"]
    for limit_kind in FIRE_RATIOS:
        limits = {key for key, (_, kind, _, _) in fired.items() if kind == limit_kind}
        want = plan_limit_keys(workload, limit_kind)
        missing, extra = want - limits, limits - want
        assert not missing and not extra, f"{limit_kind} missing {missing}, extra {extra}"
    kinds = defaultdict(set)
    for _, kind, account_id, _ in fired.values():
        kinds[account_id].add(kind)
    for account_id, profile in workload.profiles.items():
        if profile == "single":  # one user: nobody else to engage
            assert "single_threaded" in kinds[account_id], account_id
        if profile in ("healthy", "heavy"):  # three to seven users, all active
            assert not {"single_threaded", "health_red"} & kinds[account_id], account_id

    for receiver in ("slack", "email"):
        keys = {entry[0] for entry in result[receiver]}
        assert keys == set(fired), f"{receiver}: missing {set(fired) - keys}"
        assert all(n == 1 for n in result[receiver].values()), f"{receiver}: sent twice"


RECEIVED = ("slack", "email", "replies")  # replies: the resolved notices in Slack


def resent(actual: dict[str, Any]) -> list[Any]:
    """Alerts (and resolved notices) that reached a receiver more than once."""
    return [k for r in RECEIVED for k, n in actual[r].items() if n > 1]


def once_each(actual: dict[str, Any]) -> dict[str, Any]:
    """The same result with every receiver's count cut to one (to compare the rest)."""
    return {**actual, **{r: Counter(dict.fromkeys(actual[r], 1)) for r in RECEIVED}}


def assert_same(actual: dict[str, Any], clean: dict[str, Any], workload: Workload) -> None:
    """Record by record, with the first differences named rather than a wall of diff; and
    both against what the workload implies (the clean run's test checks it, too)."""
    twice = resent(actual)
    assert not twice, f"delivered more than once: {twice[:5]}"
    assert_matches_workload(actual, workload)
    for account_id, expected in clean["accounts"].items():
        got = actual["accounts"].get(account_id)
        assert got == expected, f"account {account_id}: {_differences(got, expected)}"
    assert actual["accounts"].keys() == clean["accounts"].keys()
    missing = clean["triggers"].keys() - actual["triggers"].keys()
    extra = actual["triggers"].keys() - clean["triggers"].keys()
    assert not missing and not extra, (
        f"triggers missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    )
    assert actual["triggers"] == clean["triggers"]
    assert actual["resolved"] == clean["resolved"]  # each episode's end, once, at its time
    got, want = set(actual["deliveries"]), set(clean["deliveries"])
    assert actual["deliveries"] == clean["deliveries"], (
        f"deliveries only in the run: {sorted(got - want)[:5]}, "
        f"only in the clean run: {sorted(want - got)[:5]}"
    )
    assert actual["slack"] == clean["slack"]
    assert actual["email"] == clean["email"]
    assert actual["replies"] == clean["replies"]


def _differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ, as 'path: got != want' lines (first ten)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(got.keys() | want.keys(), key=str):
            out += _differences(got.get(key), want.get(key), f"{path}.{key}")
        return out[:10]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        out = []
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            out += _differences(a, b, f"{path}[{n}]")
        return out[:10]
    return [] if got == want else [f"{path}: {got!r} != clean {want!r}"]
