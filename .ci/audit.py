"""CI's dependency audit: pip-audit on the locked dependencies, judged from its JSON report.

pip-audit's own exit status cannot tell "nothing is vulnerable" from "nothing was checked":
when it reaches no vulnerability data it skips every dependency and still prints "No known
vulnerabilities found". So this script reads the report and decides (docs/operations.md,
Dependency audit):

- a known vulnerability in any locked dependency fails CI (exit 1), listing each;
- dependencies that could not be checked (no vulnerability service reachable, or pip-audit
  crashing on the way) are reported loudly, as not audited: CI still passes, because some
  machines, this project's CI among them, reach no vulnerability data; with AUDIT_REQUIRED=1
  that is a failure too;
- pip-audit missing is a broken install and fails.

    python .ci/audit.py requirements.lock
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

TIMEOUT_SECONDS = 300
BANNER = "=" * 78


def audit(lock: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report (None if it produced none) and what it said on stderr."""
    command = [
        sys.executable, "-m", "pip_audit", "-r", lock, "--no-deps", "--disable-pip",
        "--progress-spinner", "off", "--format", "json", "--timeout", "10",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, f"pip-audit did not finish within {TIMEOUT_SECONDS} s"
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None, done.stderr
    return (report if isinstance(report, dict) else None), done.stderr


def judge(report: dict[str, Any] | None, stderr: str, *, required: bool) -> tuple[int, str]:
    """The exit status and what to print, from a pip-audit JSON report."""
    if report is None:
        why = stderr.strip().splitlines()[-5:] or ["(nothing)"]
        return _not_audited("every locked dependency: pip-audit gave no report", why, required)
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    if vulnerable:
        lines = [BANNER, "DEPENDENCY AUDIT FAILED: known vulnerabilities", BANNER]
        lines += [_vulnerability(d, v) for d in vulnerable for v in d["vulns"]]
        if skipped:
            lines.append(f"(and {len(skipped)} dependencies could not be checked at all)")
        return 1, "\n".join(lines)
    if skipped:
        which = f"{len(skipped)} of {len(dependencies)} locked dependencies"
        if len(skipped) < len(dependencies):
            which += ": " + ", ".join(d["name"] for d in skipped)
        # "Dependency not found on PyPI and could not be audited: aiokafka (0.14.0)": the kinds
        why = sorted({d["skip_reason"].rsplit(": ", 1)[0] for d in skipped})
        return _not_audited(which, why, required)
    return 0, f"dependency audit: {len(dependencies)} locked dependencies, no known vulnerability"


def _vulnerability(dependency: dict[str, Any], vuln: dict[str, Any]) -> str:
    aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
    fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
    name = f"{dependency['name']} {dependency['version']}"
    return f"  {name}: {vuln['id']}{aliases}; fixed in {fixed}"


def _not_audited(which: str, why: list[str], required: bool) -> tuple[int, str]:
    lines = [
        BANNER,
        f"DEPENDENCY AUDIT NOT PERFORMED for {which}",
        BANNER,
        "Nothing is known about their vulnerabilities: this is not a pass. pip-audit said:",
        *(f"  {reason}" for reason in why),
        "The audit needs PyPI's JSON API for each locked version, or the OSV database; CI on",
        "a machine that reaches them performs the real audit.",
        "AUDIT_REQUIRED=1: failing." if required else "CI goes on (AUDIT_REQUIRED=1 fails it).",
    ]
    return (1 if required else 0), "\n".join(lines)


def main() -> int:
    if importlib.util.find_spec("pip_audit") is None:
        print("pip-audit is not installed (the dev extra provides it): failing", file=sys.stderr)
        return 1
    lock = sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"
    report, stderr = audit(lock)
    status, text = judge(report, stderr, required=os.environ.get("AUDIT_REQUIRED") == "1")
    print(text, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
