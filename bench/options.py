"""`pulse bench`'s options: the run's sizes from the command line, --quick's or the defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from harness.database import admin_dsn
from shared.errors import ConfigurationError

DEFAULT = {"accounts": 10_000, "events": 200_000, "latency_seconds": 20.0, "baseline": 5_000}
QUICK = {"accounts": 200, "events": 2_000, "latency_seconds": 3.0, "baseline": 500}
PLOT_SIZES = "1k,10k,100k,1M"


@dataclass(frozen=True)
class Options:
    accounts: int
    events: int
    rate: float | None  # None: half the measured `pulse up` throughput
    latency_seconds: float
    baseline_events: int
    seed: int
    quick: bool
    json: str | None
    plot: str | None
    plot_sizes: list[int]
    admin_dsn: str


def parse_sizes(text: str) -> list[int]:
    """'1k,10k,100k,1M' -> [1000, 10000, 100000, 1000000]."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        try:
            sizes.append(int(float(part.rstrip("km")) * scale))
        except ValueError:
            raise ConfigurationError(
                f"--plot-sizes: {part!r} is not a number like 10k or 1M"
            ) from None
    if not sizes or min(sizes) < 1:
        raise ConfigurationError("--plot-sizes: give positive account counts, e.g. 1k,10k,100k")
    return sizes


def options(args: argparse.Namespace) -> Options:
    """The run's sizes: explicit flags win, then --quick's, then the defaults."""
    base = QUICK if args.quick else DEFAULT
    accounts = args.accounts if args.accounts is not None else int(base["accounts"])
    events = args.events if args.events is not None else int(base["events"])
    given = args.latency_seconds
    seconds = given if given is not None else base["latency_seconds"]
    if accounts < 1 or events < 1:
        raise ConfigurationError("--accounts and --events must be at least 1")
    if seconds < 1:
        raise ConfigurationError("--latency-seconds must be at least 1")
    if args.rate is not None and args.rate <= 0:
        raise ConfigurationError("--rate must be positive")
    return Options(
        accounts=accounts,
        events=events,
        rate=args.rate,
        latency_seconds=seconds,
        baseline_events=min(events, int(base["baseline"])),
        seed=args.seed,
        quick=args.quick,
        json=args.json,
        plot=args.plot,
        plot_sizes=parse_sizes(args.plot_sizes or PLOT_SIZES),
        admin_dsn=admin_dsn(args.database_url),
    )
