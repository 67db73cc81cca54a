"""The words synthetic accounts are made of, shared by every generator (the benchmark's
workload, the fault tests' workload, `pulse up --demo`), so their data reads alike."""

from __future__ import annotations

FEATURES = ("reports.export", "dashboards", "alerts", "api.keys", "sso", "workflows", "search")
DEPARTMENTS = ("operations", "finance", "engineering", "marketing", "sales")
TITLES = ("Analyst", "Manager", "Director", "VP Operations", "Engineer")
