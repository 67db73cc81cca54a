"""Plain factories for signals as ingest writes them: pure-function tests need no broker,
and bench.tools.load builds its accounts from them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def at(days: float = 0, hours: float = 0) -> float:
    return (START + timedelta(days=days, hours=hours)).timestamp()


def login(account: str, user: str, day: float, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "login",
        "signal_id": f"l-{next(_ids)}",
        "account_id": account,
        "ts": at(day),
        "user_id": user,
        **extra,
    }


def usage(account: str, day: float, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "usage",
        "signal_id": f"u-{next(_ids)}",
        "account_id": account,
        "ts": at(day),
        "mode": "delta",  # ingest always writes it: the contract's default
        **fields,
    }


def support(account: str, day: float, ticket: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "support",
        "signal_id": f"s-{next(_ids)}",
        "account_id": account,
        "ts": at(day),
        "ticket_id": ticket,
        "status": status,
        **fields,
    }


def survey(account: str, day: float, kind: str, score: int, **respondent: Any) -> dict[str, Any]:
    """An NPS or CSAT answer; respondent: email= and/or user_id=."""
    return {
        "kind": "survey",
        "signal_id": f"n-{next(_ids)}",
        "account_id": account,
        "ts": at(day),
        "survey": kind,
        "score": score,
        **respondent,
    }


def account_record(
    account: str, limits: dict[str, float] | None = None, period: str = "month", **fields: Any
) -> dict[str, Any]:
    return {
        "kind": "account",
        "signal_id": f"a-{next(_ids)}",
        "account_id": account,
        "name": fields.pop("name", account.title()),
        "plan": {"name": "Growth", "period": period, "limits": limits or {}},
        **fields,
    }


def stakeholder(account: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "stakeholder",
        "signal_id": f"k-{next(_ids)}",
        "account_id": account,
        "email": email,
        **fields,
    }
