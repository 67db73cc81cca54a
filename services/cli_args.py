"""`pulse`'s command line: its commands and their options (services/cli.py runs them)."""

from __future__ import annotations

import argparse


def build_parser(usage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulse", description=usage, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="run everything in one process")
    up_cmd.add_argument("--demo", action="store_true", help="also stream synthetic telemetry")
    up_cmd.add_argument("--accounts", type=int, default=30, help="demo accounts (default 30)")
    commands.add_parser("ingest", help="validate input topics into cs.signals")
    scoring_cmd = commands.add_parser(
        "scoring", help="score accounts, fire triggers, serve the API"
    )
    scoring_cmd.add_argument(
        "--no-api", action="store_true", help="leave the API to `pulse api` processes"
    )
    commands.add_parser("api", help="serve the HTTP API alone (reads the database)")
    commands.add_parser("alerts", help="deliver triggers to Slack and email")
    demo_cmd = commands.add_parser("demo", help="stream synthetic telemetry")
    demo_cmd.add_argument("--accounts", type=int, default=30)
    demo_cmd.add_argument("--no-live", action="store_true", help="send the history, then exit")
    commands.add_parser("migrate", help="bring the database schema up to date")
    token_cmd = commands.add_parser("token", help="create, list or revoke API tokens")
    token_actions = token_cmd.add_subparsers(dest="token_command", required=True)
    create_cmd = token_actions.add_parser("create", help="create a token (shown only once)")
    create_cmd.add_argument("--name", required=True, help="a name to list and revoke it by")
    create_cmd.add_argument(
        "--scope", choices=["read", "write"], default="read", help="read: GET; write: all"
    )
    token_actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke_cmd = token_actions.add_parser("revoke", help="revoke a token by name")
    revoke_cmd.add_argument("name")
    deliveries_cmd = commands.add_parser("deliveries", help="operate on alert deliveries")
    deliveries_actions = deliveries_cmd.add_subparsers(dest="deliveries_command", required=True)
    skip_cmd = deliveries_actions.add_parser(
        "skip", help="end every pending delivery of a channel that is gone for good, as skipped"
    )
    skip_cmd.add_argument("--channel", required=True, help="slack, email or console")
    scorecard_cmd = commands.add_parser("scorecard", help="show or check a scorecard file")
    scorecard_actions = scorecard_cmd.add_subparsers(dest="scorecard_command", required=True)
    scorecard_actions.add_parser("show", help="print the built-in scorecard (docs/scorecard.md)")
    check_cmd = scorecard_actions.add_parser(
        "check", help="validate a scorecard file: every problem with its line"
    )
    check_cmd.add_argument("file")
    bench_cmd = commands.add_parser(
        "bench", help="measure throughput, latency and memory (services as child processes)"
    )
    bench_cmd.add_argument("--accounts", type=int, help="accounts (default 10,000)")
    bench_cmd.add_argument("--events", type=int, help="events (default 200,000)")
    bench_cmd.add_argument(
        "--rate", type=float, help="offered events/s for latency (default: half of pulse up's)"
    )
    bench_cmd.add_argument(
        "--latency-seconds", type=float, help="length of the rated load (default 20)"
    )
    bench_cmd.add_argument(
        "--quick", action="store_true", help="a seconds-long smoke run (200 accounts, 2,000 events)"
    )
    bench_cmd.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    bench_cmd.add_argument(
        "--plot", metavar="FILE", help="also sweep --plot-sizes and draw a PNG (needs matplotlib)"
    )
    bench_cmd.add_argument(
        "--plot-sizes", metavar="LIST", help="accounts for --plot (default 1k,10k,100k,1M)"
    )
    bench_cmd.add_argument(
        "--database-url",
        metavar="DSN",
        help="PostgreSQL admin DSN (default PULSE_BENCH_DATABASE_URL or "
        "postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    bench_cmd.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    return parser
