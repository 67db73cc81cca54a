"""What every format of an alert says, as plain text: its title, the health, the details, the
account's facts and links. Pure functions, so every format is the same on a resend."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import quote

import orjson

from services.alerts.models import Account
from services.alerts.notices import ALERT, ESCALATED
from services.alerts.routing.model import CSM_RECEIVER
from shared.clock import iso
from shared.contracts.triggers import TriggerEvent

TITLES = {
    "plan_limit_80": "Plan limit 80% reached",
    "plan_limit_100": "Plan limit reached",
    "single_threaded": "Single-threaded account",
    "health_red": "Health turned red",
    "champion_left": "Champion left",
    "champion_quiet": "Champion gone quiet",
    "nps_detractor": "NPS detractor",
    "support_spike": "Support tickets spiking",
    "low_adoption": "Low adoption",
    "usage_decline": "Usage declining",
    "renewal_at_risk": "Renewal at risk",
    "renewal_window": "Renewal window open",
    "onboarding_stalled": "Onboarding stalled",
    "login_frequency_up": "Logins going daily",
    "seat_growth": "Seats growing",
    "feature_request_higher_tier": "Asked for a higher plan's feature",
    "advocacy_ready": "Ready to advocate",
    "expansion_ready": "Ready for expansion",
}
GATED = (
    "Adoption first: fewer than the scorecard's core features are in use, and expansion "
    "before adoption backfires."
)


def title(trigger: TriggerEvent) -> str:
    fire_ratio = trigger.details.get("fire_ratio")
    if trigger.type in ("plan_limit_80", "plan_limit_100") and isinstance(fire_ratio, int | float):
        return f"Plan limit {fire_ratio:.0%} reached"  # the scorecard's threshold, not the name's
    return TITLES.get(trigger.type) or trigger.type.replace("_", " ").capitalize()


def health_text(trigger: TriggerEvent) -> str:
    if trigger.health is None:
        return "unknown"
    if trigger.health.score is None:
        return "no score yet (no login, usage, ticket or survey)"
    return f"{trigger.health.score:g} ({trigger.health.band})"


def details_text(trigger: TriggerEvent) -> str:
    parts = []
    for key, value in trigger.details.items():
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}: {shown}")
    text = ", ".join(parts)
    return f"{GATED} {text}" if trigger.details.get("expansion_gated") is True else text


def account_link(public_url: str | None, account_id: str) -> str | None:
    """The account's page (GET /ui/accounts/{account_id}), when AccountPulse's address is set."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/ui/accounts/{quote(account_id, safe='')}"


def message_id(dedup_key: str, receiver: str = CSM_RECEIVER, notice: str = ALERT) -> str:
    """The same for every send of one alert (or its escalation) to one receiver, so a resend
    is recognizably the same message (the CSM's alert is what it was before receivers: a
    retry across an upgrade finds it in the archive)."""
    key = dedup_key if receiver == CSM_RECEIVER else f"{dedup_key}\n{receiver}"
    if notice != ALERT:
        key += f"\n{notice}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()}@accountpulse>"


def facts(trigger: TriggerEvent, account: Account) -> list[tuple[str, str]]:
    """The alert's facts, name and value, as an email lists them."""
    found = [
        ("Severity", trigger.severity),
        ("Health", health_text(trigger)),
        ("Account", f"{account.name} ({trigger.account_id})"),
        *account_facts(account),
        ("Fired at", iso(trigger.fired_at)),
    ]
    if trigger.details:
        found.append(("Details", details_text(trigger)))
    return found


def account_facts(account: Account) -> list[tuple[str, str]]:
    """What a CSM weighs the alert by: the account's tier, ARR, plan and renewal, if known."""
    found = []
    if account.tier is not None:
        found.append(("Tier", str(account.tier)))
    if account.arr is not None:
        found.append(("ARR", f"{account.arr:,.0f}"))
    if account.plan:
        found.append(("Plan", account.plan))
    if account.renewal_date:
        found.append(("Renewal", account.renewal_date))
    return found


def links(account: Account, link: str | None) -> list[tuple[str, str]]:
    found = [("Account page", link)] if link else []
    if account.crm_url:
        found.append(("CRM record", account.crm_url))
    return found


def escalation_text(note: str | None, notice: str) -> str | None:
    """The line an escalated alert opens with."""
    if notice != ESCALATED:
        return None
    return f"Escalated: {note}" if note else "Escalated"


def console_line(
    trigger: TriggerEvent, account: Account, notice: str = ALERT, note: str | None = None
) -> str:
    what = "RESOLVED" if trigger.status == "resolved" else "ALERT"
    escalated = escalation_text(note, notice)
    return (
        f"{what} [{trigger.severity}] {account.name} ({trigger.account_id}): {title(trigger)}"
        f" - {one_line(trigger.summary)} | health {health_text(trigger)}"
        f" | dedup_key {trigger.dedup_key}" + (f" | {escalated}" if escalated else "")
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def worst_severity(triggers: Iterable[TriggerEvent]) -> str:
    found = {trigger.severity for trigger in triggers}
    return next((s for s in ("critical", "warning", "info") if s in found), "info")


def about(accounts: Iterable[Account]) -> str:
    """Whom a group's alerts are about: its account's name, or how many accounts."""
    names = sorted({account.name for account in accounts})
    return names[0] if len(names) == 1 else f"{len(names)} accounts"
