"""The `pulse` commands an operator runs against the database: `token` (API tokens),
`deliveries` (alert deliveries) and `accounts` (their partition layout). Each declares its
arguments here; the CLI opens the database (migrating it first, like every service) and hands
it over."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError
from shared.kafka import topic_partitions

Command = Callable[[argparse.Namespace, AsyncEngine, BaseServiceSettings], Awaitable[None]]


def add_commands(commands: Any) -> dict[str, Command]:
    """Declare the commands on the CLI's subparsers; returns what runs each."""
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
    link_cmd = token_actions.add_parser(
        "link", help="print a one-time sign-in link to the pages for a token (docs/ui.md)"
    )
    link_cmd.add_argument("name")
    deliveries_cmd = commands.add_parser("deliveries", help="operate on alert deliveries")
    deliveries_actions = deliveries_cmd.add_subparsers(dest="deliveries_command", required=True)
    skip_cmd = deliveries_actions.add_parser(
        "skip", help="end every pending delivery of a channel that is gone for good, as skipped"
    )
    skip_cmd.add_argument("--channel", required=True, help="slack, email or console")
    accounts_cmd = commands.add_parser("accounts", help="operate on the stored accounts")
    accounts_actions = accounts_cmd.add_subparsers(dest="accounts_command", required=True)
    repartition_cmd = accounts_actions.add_parser(
        "repartition",
        help="with scoring stopped, move every account to its partition under the signals "
        "topic's partition count now",
    )
    repartition_cmd.add_argument(
        "--partitions",
        type=int,
        help="the count to move to (default: the signals topic's on the cluster, or "
        "PULSE_TOPIC_PARTITIONS without PULSE_KAFKA_BOOTSTRAP_SERVERS)",
    )
    return {"token": token, "deliveries": deliveries, "accounts": accounts}


async def accounts(
    args: argparse.Namespace, engine: AsyncEngine, settings: BaseServiceSettings
) -> None:
    from services.scoring.accounts.layout import repartition

    topic = settings.topics.signals
    partitions, source = await _partitions_wanted(args, settings)
    if partitions < 1:
        raise ConfigurationError(f"--partitions must be at least 1, not {partitions}")
    done = await repartition(engine, partitions)
    before = "none recorded" if done.before is None else f"{done.before} recorded"
    print(
        f"pulse accounts: {done.moved} of {done.accounts} accounts moved to their partition "
        f"of {partitions} ({topic}, {source}; {before} before). Scoring may start."
    )


async def _partitions_wanted(
    args: argparse.Namespace, settings: BaseServiceSettings
) -> tuple[int, str]:
    """The count to move to, and where it came from."""
    if args.partitions is not None:
        return args.partitions, "from --partitions"
    if settings.kafka_bootstrap_servers:
        count = await topic_partitions(settings, settings.topics.signals)
        return count, f"as {settings.kafka_bootstrap_servers} has it"
    # `pulse up`'s embedded broker is gone once it stops; it creates the topics with this.
    return settings.topic_partitions, "PULSE_TOPIC_PARTITIONS, for the embedded broker"


async def deliveries(
    args: argparse.Namespace, engine: AsyncEngine, settings: BaseServiceSettings
) -> None:
    from services.alerts import repository

    reason = f"skipped by an operator (pulse deliveries skip --channel {args.channel})"
    count = await repository.skip_channel(engine, args.channel, reason)
    print(f"pulse deliveries: {count} pending {args.channel} deliveries skipped")


async def token(
    args: argparse.Namespace, engine: AsyncEngine, settings: BaseServiceSettings
) -> None:
    from services.scoring import tokens

    try:
        if args.token_command == "create":
            created = await tokens.create_token(engine, args.name, args.scope)
            print(created)
            print(
                f"pulse token: created {args.name!r} (scope {args.scope}). This is the only "
                "time the token is shown: store it now. Send it as `Authorization: Bearer "
                "<token>`.",
                file=sys.stderr,
            )
        elif args.token_command == "list":
            _print_tokens(await tokens.list_tokens(engine))
        elif args.token_command == "link":
            await _sign_in_link(engine, args.name)
        else:
            await tokens.revoke_token(engine, args.name)
            print(f"pulse token: revoked {args.name!r}", file=sys.stderr)
    except tokens.TokenError as exc:
        print(f"pulse token: {exc}", file=sys.stderr)
        sys.exit(1)


async def _sign_in_link(engine: AsyncEngine, name: str) -> None:
    from datetime import timedelta

    from services.scoring.settings import ScoringSettings
    from services.scoring.tokens import TokenError
    from services.scoring.ui.sessions import link_for_token
    from services.scoring.ui.signin import link_url
    from shared.clock import utcnow

    settings = ScoringSettings()
    minutes = settings.ui_link_minutes
    code = await link_for_token(engine, name, utcnow(), timedelta(minutes=minutes))
    if code is None:
        raise TokenError(f"no unrevoked token named {name!r} (see pulse token list)")
    print(link_url(settings, code))
    print(
        f"pulse token: a sign-in link for {name!r}: it works once, within {minutes:g} minutes",
        file=sys.stderr,
    )


def _print_tokens(rows: list[Any]) -> None:
    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"

    table = [("NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")]
    table += [
        (t.name, t.scope, when(t.created_at), when(t.last_used_at), when(t.revoked_at))
        for t in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
