"""CI's dependency audit (.ci/audit.py) judges pip-audit's JSON report: a known vulnerability
fails; dependencies it could not check are reported as not audited, never as a pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load() -> ModuleType:
    path = Path(__file__).parent.parent / ".ci" / "audit.py"
    spec = importlib.util.spec_from_file_location("ci_audit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = _load()

CLEAN = {"name": "orjson", "version": "3.13.0", "vulns": []}
SKIPPED = {
    "name": "aiokafka",
    "skip_reason": "Dependency not found on PyPI and could not be audited: aiokafka (0.14.0)",
}
VULNERABLE = {
    "name": "requests",
    "version": "2.0.0",
    "vulns": [
        {
            "id": "PYSEC-2023-74",
            "fix_versions": ["2.31.0"],
            "aliases": ["CVE-2023-32681"],
            "description": "...",
        }
    ],
}


def judge(*dependencies: dict[str, Any], required: bool = False) -> tuple[int, str]:
    result: tuple[int, str] = audit.judge(
        {"dependencies": list(dependencies), "fixes": []}, "", required=required
    )
    return result


def test_every_dependency_checked_and_clean_passes() -> None:
    status, text = judge(CLEAN, {**CLEAN, "name": "httpx"})
    assert status == 0
    assert "2 locked dependencies, no known vulnerability" in text


@pytest.mark.parametrize("required", [False, True])
def test_a_known_vulnerability_fails_and_names_it(required: bool) -> None:
    status, text = judge(CLEAN, VULNERABLE, SKIPPED, required=required)
    assert status == 1
    assert "DEPENDENCY AUDIT FAILED" in text
    assert "requests 2.0.0: PYSEC-2023-74 (CVE-2023-32681); fixed in 2.31.0" in text
    assert "1 dependencies could not be checked" in text


def test_nothing_checked_is_loudly_not_performed_and_not_a_failure_by_default() -> None:
    status, text = judge(SKIPPED, {**SKIPPED, "name": "alembic"})
    assert status == 0
    assert "DEPENDENCY AUDIT NOT PERFORMED for 2 of 2 locked dependencies" in text
    assert "this is not a pass" in text
    assert "Dependency not found on PyPI and could not be audited" in text
    assert "no known vulnerability" not in text


def test_some_unchecked_are_named() -> None:
    status, text = judge(CLEAN, SKIPPED)
    assert status == 0
    assert "NOT PERFORMED for 1 of 2 locked dependencies: aiokafka" in text


def test_audit_required_turns_not_performed_into_a_failure() -> None:
    status, text = judge(CLEAN, SKIPPED, required=True)
    assert status == 1
    assert "AUDIT_REQUIRED=1: failing" in text


def test_no_report_at_all_is_not_performed_with_pip_audits_last_words() -> None:
    status, text = audit.judge(None, "Traceback ...\nConnectionError: no route\n", required=False)
    assert status == 0
    assert "NOT PERFORMED for every locked dependency: pip-audit gave no report" in text
    assert "ConnectionError: no route" in text
    assert audit.judge(None, "", required=True)[0] == 1
