"""The `pulse` commands that work on configuration files and past events, with no service
running: show and check the scorecard and the routing file, and backtest a scorecard."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from shared.config import BaseServiceSettings

Runner = Callable[[argparse.Namespace, asyncio.Event], Coroutine[Any, Any, None]]


def add_commands(commands: Any) -> dict[str, Runner]:
    """Declare the commands on the CLI's subparsers; returns what runs each."""
    scorecard_cmd = commands.add_parser("scorecard", help="show or check a scorecard file")
    scorecard_actions = scorecard_cmd.add_subparsers(dest="scorecard_command", required=True)
    scorecard_actions.add_parser("show", help="print the built-in scorecard (docs/scorecard.md)")
    check_cmd = scorecard_actions.add_parser("check", help="validate a scorecard file")
    check_cmd.add_argument("file")
    routes_cmd = commands.add_parser("routes", help="show or check a routing file")
    routes_actions = routes_cmd.add_subparsers(dest="routes_command", required=True)
    routes_actions.add_parser("show", help="print the routing used without PULSE_ROUTES")
    routes_check_cmd = routes_actions.add_parser("check", help="validate a routing file")
    routes_check_cmd.add_argument("file")
    backtest_cmd = commands.add_parser(
        "backtest", help="replay past events through a scorecard (nothing written or sent)"
    )
    backtest_cmd.add_argument("--scorecard", help="the scorecard file (default: built-in)")
    source = backtest_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help='events, one {"topic", "value"} JSON object per line')
    source.add_argument(
        "--topics",
        action="store_true",
        help="read the input topics from their beginning (PULSE_KAFKA_BOOTSTRAP_SERVERS)",
    )
    backtest_cmd.add_argument("--compare", metavar="FILE", help="a second scorecard, side by side")
    backtest_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    return {"scorecard": scorecard, "routes": routes, "backtest": backtest_command}


async def scorecard(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.scoring.scorecard import loading

    if args.scorecard_command == "show":
        print(loading.DEFAULT_TEXT, end="")
        return
    card = loading.load(args.file)  # a ScorecardError names each problem's line
    tiers = ", ".join(str(t) for t in sorted(card.tiers)) or "none"
    print(f"{args.file}: valid, version {card.version}, tier overrides: {tiers}")


async def routes(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.alerts.routing import loading

    if args.routes_command == "show":
        print(loading.DEFAULT_TEXT, end="")
        return
    routing = loading.load_routes(args.file)  # a RoutesError names each problem's line
    receivers = ", ".join(receiver.name for receiver in routing.receivers)
    print(
        f"{args.file}: valid, receivers: {receivers}; {len(routing.inhibit_rules)} inhibit "
        f"rules, {len(routing.escalations)} escalations"
    )


async def backtest_command(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from services.backtest import backtest, backtest_topics, report_text
    from services.scoring.scorecard.loading import load

    cards = [load(args.scorecard), *([load(args.compare)] if args.compare else [])]
    if args.topics:
        report = await backtest_topics(BaseServiceSettings(), cards, sys.stderr)
    else:
        report = await asyncio.to_thread(backtest, Path(args.input), cards, sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(report_text(report), end="")
