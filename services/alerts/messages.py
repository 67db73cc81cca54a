"""Rendering of alerts: pure functions from a trigger and its account to text, Slack Block Kit
and email. No I/O here, so every format is testable on its own and the same on a resend."""

from __future__ import annotations

import hashlib
import html
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import orjson

from services.alerts.models import Account
from services.alerts.routing.model import CSM_RECEIVER
from shared.clock import as_utc, iso
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
# The alert's buttons (action_id) and the block that holds them, for /v1/slack/interactions.
ACK_ACTION, SNOOZE_ACTION, ACTIONS_BLOCK = "pulse_ack", "pulse_snooze_7d", "pulse_actions"
SNOOZE_DAYS = 7
# Slack message metadata's event_type: an alert, and the notice of its episode's end.
EVENT_TYPES = {"firing": "pulse_trigger", "resolved": "pulse_trigger_resolved"}
SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}

# Slack's own limits (Block Kit reference); longer text makes chat.postMessage fail.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000


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


GATED = (
    "Adoption first: fewer than the scorecard's core features are in use, and expansion "
    "before adoption backfires."
)


def details_text(trigger: TriggerEvent) -> str:
    parts = []
    for key, value in trigger.details.items():
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}: {shown}")
    text = ", ".join(parts)
    return f"{GATED} {text}" if trigger.details.get("expansion_gated") is True else text


def account_link(public_url: str | None, account_id: str) -> str | None:
    """The account's page (docs/ui.md): its health and why, and the alert's actions; none
    unless the API's public address is known."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/ui/accounts/{quote(account_id, safe='')}"


def message_id(dedup_key: str, receiver: str = CSM_RECEIVER) -> str:
    """The same for every send of one alert to one receiver, so a resend is recognizably the
    same message (the CSM's is what it was before receivers: a retry across an upgrade finds
    it in the archive)."""
    key = dedup_key if receiver == CSM_RECEIVER else f"{dedup_key}\n{receiver}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()}@accountpulse>"


def console_line(trigger: TriggerEvent, account: Account) -> str:
    what = "RESOLVED" if trigger.status == "resolved" else "ALERT"
    return (
        f"{what} [{trigger.severity}] {account.name} ({trigger.account_id}): {title(trigger)}"
        f" - {_one_line(trigger.summary)} | health {health_text(trigger)}"
        f" | dedup_key {trigger.dedup_key}"
    )


# --- Slack ---------------------------------------------------------------------------------


def slack_message(
    trigger: TriggerEvent,
    account: Account,
    channel: str,
    link: str | None,
    receiver: str = CSM_RECEIVER,
    buttons: bool = False,
) -> dict[str, Any]:
    """The chat.postMessage body: a text fallback (notifications, screen readers), Block Kit
    for the message itself, and metadata other Slack apps can act on (and that tells one
    receiver's copy from another's in a shared channel)."""
    return {
        "channel": channel,
        "text": slack_text(trigger, account),
        "blocks": slack_blocks(trigger, account, link, buttons),
        "metadata": {
            "event_type": EVENT_TYPES["firing"],
            "event_payload": {
                "type": trigger.type,
                "account_id": trigger.account_id,
                "dedup_key": trigger.dedup_key,
                "trigger_id": trigger.trigger_id,
                "receiver": receiver,
            },
        },
        "unfurl_links": False,
    }


def slack_resolved(
    trigger: TriggerEvent, account: Account, channel: str, attempt: Any
) -> dict[str, Any]:
    """The chat.postMessage body of a resolved notice: a reply in the alert's thread (its ts
    in attempt.thread; without one, a message of its own), with metadata of its own type."""
    when = iso(trigger.resolved_at) if trigger.resolved_at else "now"
    text = _slack_escape(
        f"Resolved: {account.name}: {title(trigger)} ended at {when}"
        f" (health {health_text(trigger)})"
    )
    return {
        "channel": channel,
        "text": text,
        **({"thread_ts": attempt.thread} if attempt.thread else {}),
        "metadata": {
            "event_type": EVENT_TYPES["resolved"],
            "event_payload": {
                "type": trigger.type,
                "account_id": trigger.account_id,
                "dedup_key": trigger.dedup_key,
                "trigger_id": trigger.trigger_id,
                "receiver": attempt.receiver,
            },
        },
    }


def slack_text(trigger: TriggerEvent, account: Account) -> str:
    return _slack_escape(
        f"[{trigger.severity}] {account.name}: {title(trigger)} - {trigger.summary}"
        f" (health {health_text(trigger)})"
    )


def slack_blocks(
    trigger: TriggerEvent, account: Account, link: str | None, buttons: bool = False
) -> list[dict[str, Any]]:
    """The alert's blocks; `buttons`: Acknowledge and Snooze 7 days (the API takes their clicks
    at /v1/slack/interactions, which needs the Slack app's signing secret)."""
    emoji = SEVERITY_EMOJI.get(trigger.severity, ":bell:")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{emoji} {account.name}: {title(trigger)}", _HEADER_MAX),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": _mrkdwn(_cut(_slack_escape(trigger.summary), _SECTION_MAX)),
            "fields": [
                _mrkdwn(f"*Severity*\n{_slack_escape(trigger.severity)}"),
                _mrkdwn(f"*Health*\n{_slack_escape(health_text(trigger))}"),
                _mrkdwn(
                    _cut(
                        f"*Account*\n{_slack_escape(account.name)}"
                        f" (`{_slack_escape(trigger.account_id)}`)",
                        _FIELD_MAX,
                    )
                ),
                *(
                    _mrkdwn(f"*{name}*\n{_slack_escape(value)}")
                    for name, value in account_facts(account)
                ),
                _mrkdwn(f"*Fired at*\n{iso(trigger.fired_at)}"),
            ],
        },
    ]
    if trigger.playbook:
        step = f"*Next step*\n{_slack_escape(trigger.playbook)}"
        blocks.append({"type": "section", "text": _mrkdwn(_cut(step, _SECTION_MAX))})
    elements = [
        {"type": "button", "text": {"type": "plain_text", "text": name}, "url": url}
        for name, url in _links(account, link)
    ]
    if buttons:
        elements += [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": text},
                "value": trigger.trigger_id,
                **({"style": "primary"} if action == ACK_ACTION else {}),
            }
            for action, text in ((ACK_ACTION, "Acknowledge"), (SNOOZE_ACTION, "Snooze 7 days"))
        ]
    if elements:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    blocks.append(
        {
            "type": "context",
            "elements": [
                _mrkdwn(_cut(f"{trigger.type} · `{_slack_escape(trigger.dedup_key)}`", 2000))
            ],
        }
    )
    return blocks


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as control characters in message text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- Email ---------------------------------------------------------------------------------


def email_message(
    trigger: TriggerEvent,
    account: Account,
    *,
    sender: str,
    recipient: str,
    link: str | None,
    receiver: str = CSM_RECEIVER,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _header(f"[{trigger.severity.upper()}] {account.name}: {title(trigger)}")
    message["From"] = sender
    message["To"] = recipient
    # Date and Message-ID come from the trigger, not the clock: a resend is the same message.
    message["Date"] = format_datetime(as_utc(trigger.fired_at))
    message["Message-ID"] = message_id(trigger.dedup_key, receiver)
    message["X-Pulse-Trigger-Type"] = _header(trigger.type)
    message["X-Pulse-Account-Id"] = _header(trigger.account_id)
    message["X-Pulse-Dedup-Key"] = _header(trigger.dedup_key)
    message.set_content(email_text(trigger, account, link))
    message.add_alternative(email_html(trigger, account, link), subtype="html")
    return message


def _facts(trigger: TriggerEvent, account: Account) -> list[tuple[str, str]]:
    facts = [
        ("Severity", trigger.severity),
        ("Health", health_text(trigger)),
        ("Account", f"{account.name} ({trigger.account_id})"),
        *account_facts(account),
        ("Fired at", iso(trigger.fired_at)),
    ]
    if trigger.details:
        facts.append(("Details", details_text(trigger)))
    return facts


def account_facts(account: Account) -> list[tuple[str, str]]:
    """What a CSM weighs the alert by: the account's tier, ARR, plan and renewal, if known."""
    facts = []
    if account.tier is not None:
        facts.append(("Tier", str(account.tier)))
    if account.arr is not None:
        facts.append(("ARR", f"{account.arr:,.0f}"))
    if account.plan:
        facts.append(("Plan", account.plan))
    if account.renewal_date:
        facts.append(("Renewal", account.renewal_date))
    return facts


def _links(account: Account, link: str | None) -> list[tuple[str, str]]:
    found = [("Account health", link)] if link else []
    if account.crm_url:
        found.append(("CRM record", account.crm_url))
    return found


def email_text(trigger: TriggerEvent, account: Account, link: str | None) -> str:
    lines = [f"{title(trigger)}: {account.name}", "", trigger.summary, ""]
    lines += [f"{name + ':':<10}{value}" for name, value in _facts(trigger, account)]
    if trigger.playbook:
        lines += ["", f"Next step: {trigger.playbook}"]
    if links := _links(account, link):
        lines += ["", *(f"{name}: {url}" for name, url in links)]
    lines += ["", f"Trigger {trigger.type}, dedup key {trigger.dedup_key}"]
    return "\n".join(lines) + "\n"


def email_html(trigger: TriggerEvent, account: Account, link: str | None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(name)}</th><td>{e(value)}</td></tr>"
        for name, value in _facts(trigger, account)
    )
    step = f"<p><b>Next step:</b> {e(trigger.playbook)}</p>" if trigger.playbook else ""
    links = " · ".join(f"<a href='{e(url)}'>{e(name)}</a>" for name, url in _links(account, link))
    return (
        "<html><body>"
        f"<h2>{e(title(trigger))}: {e(account.name)}</h2>"
        f"<p>{e(trigger.summary)}</p>"
        f"<table>{rows}</table>{step}"
        + (f"<p>{links}</p>" if links else "")
        + f"<p style='color:#888'>Trigger {e(trigger.type)}, dedup key {e(trigger.dedup_key)}</p>"
        "</body></html>\n"
    )


def _header(value: str) -> str:
    # A header value may not contain line breaks (header injection); fold them to spaces.
    return " ".join(value.splitlines())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_handled(blocks: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    """The alert's blocks once someone acted on it: its buttons replaced by who did what."""
    kept = [b for b in blocks if b.get("block_id") != ACTIONS_BLOCK]
    links = [
        {**b, "elements": [e for e in b.get("elements", []) if "url" in e]}
        for b in blocks
        if b.get("block_id") == ACTIONS_BLOCK
    ]
    done = {"type": "context", "elements": [_mrkdwn(_cut(_slack_escape(what), 2000))]}
    return [*kept[:-1], *[b for b in links if b["elements"]], done, *kept[-1:]]
