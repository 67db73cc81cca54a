"""By hand: where the machine's CPU goes while `pulse bench` (or anything else) runs. Not a
test and not run by CI.

    python -m bench.tools.cpu_by_process --seconds 200 &  pulse bench

Once a second, reads every process's CPU time from /proc and prints, per group (each pulse
service, the benchmark itself, its health load, the broker, PostgreSQL's processes together),
the share of one core it used in that second. Linux only.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# A process belongs to the first group whose marker its command line contains.
GROUPS = {
    "services.cli ingest": "ingest",
    "services.cli scoring": "scoring",
    "services.cli alerts": "alerts",
    "services.cli api": "api",
    "services.cli up": "up",
    "services.cli bench": "bench",
    "health_load": "health load",
    "tansu": "broker",
    "postgres": "postgres",
}
TICKS = os.sysconf("SC_CLK_TCK")


def group_of(pid: str) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return next((group for marker, group in GROUPS.items() if marker in command), None)


def cpu_seconds() -> dict[str, float]:
    """Per group: user + system CPU seconds of its processes alive now."""
    totals: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        group = group_of(pid)
        if group is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        totals[group] = totals.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    before, at = cpu_seconds(), time.monotonic()
    deadline = at + args.seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now, then = cpu_seconds(), time.monotonic()
        # A group's processes that ended within the second make its share look negative.
        shares = {
            group: max(0, round(100 * (used - before.get(group, used)) / (then - at)))
            for group, used in sorted(now.items())
        }
        print(" ".join(f"{group}={share}%" for group, share in shares.items()), flush=True)
        before, at = now, then


if __name__ == "__main__":
    main()
