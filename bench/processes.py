"""The benchmark's child processes (their environment is harness.processes'): waited on
with time limits, measured through /proc, always stopped.

Every child is started through `Children`, whose exit (normal, error or cancellation by
Ctrl+C) sends SIGTERM to all of them, waits, and SIGKILLs whatever is left.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.errors import BenchError

STOP_GRACE_SECONDS = 20.0
READY_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class MemoryStatus:
    rss_bytes: int  # VmRSS: resident now
    hwm_bytes: int  # VmHWM: the peak resident size so far


def parse_status(text: str) -> MemoryStatus:
    """VmRSS and VmHWM from the text of /proc/<pid>/status (given in kB)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    if len(values) != 2:
        raise ValueError("no VmRSS/VmHWM in the status text")
    return MemoryStatus(values["VmRSS"], values["VmHWM"])


class Child:
    """One child process, its output kept in a log file for error messages."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name.replace(' ', '-')}-{time.monotonic_ns()}.log"
        self.started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return text[-chars:].strip() or "(no output)"

    def check_alive(self, doing: str) -> None:
        if not self.running():
            raise BenchError(
                f"{self.name} exited with code {self.process.returncode} while {doing}; "
                f"its last output:\n{self.tail()}"
            )

    def memory(self) -> MemoryStatus:
        try:
            return parse_status(Path(f"/proc/{self.pid}/status").read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"could not read the memory of {self.name}: {exc}") from None


class Children:
    """Starts children and stops every one of them on exit, whatever the exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        stop(*self.children)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.log_dir)
        self.children.append(child)
        return child


def stop(*children: Child) -> None:
    """SIGTERM to all, a grace period to leave their consumer groups, then SIGKILL.
    Synchronous on purpose: it must also run while the benchmark is being cancelled."""
    running = [c for c in children if c.running()]
    for child in running:
        child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in running:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


async def wait_ready(child: Child, url: str, *, timeout: float) -> float:
    """Poll GET {url}/readyz until 200; the seconds since the child started."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            child.check_alive("starting up")
            try:
                response = await client.get(f"{url}/readyz")
                if response.status_code == 200:
                    return time.monotonic() - child.started
                last = f"HTTP {response.status_code} {response.text[:300]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            await asyncio.sleep(READY_POLL_SECONDS)
    raise BenchError(
        f"{child.name} did not answer 200 on {url}/readyz within {timeout:.0f}s "
        f"(last answer: {last}); its last output:\n{child.tail()}"
    )
