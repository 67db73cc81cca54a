"""The environment of a child `pulse` process: configured only through PULSE_ variables, as a
user runs it, with its broker, database, topics and consumer groups decided by the caller."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from shared.config import Topics

# Settings the caller decides for each child (or that would reach the outside world, like
# a real Slack token): never inherited from the parent's environment. Other PULSE_ variables
# (batch sizes, rules, ...) pass through, so a tuning can be measured.
_OWNED = {
    "PULSE_KAFKA_BOOTSTRAP_SERVERS",
    "PULSE_DATABASE_URL",
    "PULSE_CONSUMER_GROUP_PREFIX",
    "PULSE_TOPICS",
    "PULSE_API_HOST",
    "PULSE_API_PORT",
    "PULSE_METRICS_PORT",
    "PULSE_METRICS_HOST",
    "PULSE_LOG_LEVEL",
    "PULSE_EMBEDDED_BROKER_PORT",
    "PULSE_PUBLIC_URL",
    "PULSE_EMAIL_FROM",
}
_OWNED_PREFIXES = ("PULSE_TOPIC_", "PULSE_SLACK_", "PULSE_SMTP_", "PULSE_BENCH_")


def _owned(name: str) -> bool:
    return name in _OWNED or name.startswith(_OWNED_PREFIXES)


def inherited_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The parent's PULSE_ settings that children inherit."""
    return {k: v for k, v in sorted(environ.items()) if k.startswith("PULSE_") and not _owned(k)}


def pulse_env(
    environ: Mapping[str, str],
    *,
    bootstrap: str,
    database_url: str,
    topics: Topics,
    group_prefix: str,
    partitions: int,
    replication_factor: int,
    api_port: int,
    log_level: str | None = "WARNING",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`environ` without the settings the caller owns, then the caller's; `log_level` None
    leaves the services' own default."""
    env = {k: v for k, v in environ.items() if not _owned(k)}
    env.update(
        PULSE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        PULSE_DATABASE_URL=database_url,
        PULSE_CONSUMER_GROUP_PREFIX=group_prefix,
        PULSE_TOPIC_PARTITIONS=str(partitions),
        PULSE_TOPIC_REPLICATION_FACTOR=str(replication_factor),
        PULSE_API_PORT=str(api_port),
        **{f"PULSE_TOPIC_{name.upper()}": getattr(topics, name) for name in Topics.model_fields},
    )
    if log_level is not None:
        env["PULSE_LOG_LEVEL"] = log_level
    env.update(extra or {})
    return env


def pulse_command(command: str) -> list[str]:
    """The argv of `pulse <command>`, with this interpreter."""
    return [sys.executable, "-m", "services.cli", command]
