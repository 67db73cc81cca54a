"""An alert in Slack: Block Kit blocks, a text fallback (notifications, screen readers), and
metadata other Slack apps can act on (and that tells one receiver's copy from another's in a
shared channel). Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.alerts.messages.text import (
    about,
    account_facts,
    cut,
    escalation_text,
    health_text,
    links,
    title,
    worst_severity,
)
from services.alerts.models import Account
from services.alerts.notices import ALERT, RESOLVED
from services.alerts.routing.model import CSM_RECEIVER
from shared.clock import iso
from shared.contracts.triggers import TriggerEvent

# The alert's buttons (action_id) and the block that holds them, for /v1/slack/interactions.
ACK_ACTION, SNOOZE_ACTION, ACTIONS_BLOCK = "pulse_ack", "pulse_snooze_7d", "pulse_actions"
SNOOZE_DAYS = 7
SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":information_source:",
}
# Slack's own limits (Block Kit reference); longer text makes chat.postMessage fail.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000


def event_type(notice: str) -> str:
    """Slack message metadata's event_type: alerts (escalated ones too) are pulse_trigger,
    the notice of an episode's end pulse_trigger_resolved."""
    return "pulse_trigger_resolved" if notice == RESOLVED else "pulse_trigger"


def slack_message(
    trigger: TriggerEvent,
    account: Account,
    channel: str,
    link: str | None,
    receiver: str = CSM_RECEIVER,
    *,
    buttons: bool = False,
    notice: str = ALERT,
    note: str | None = None,
) -> dict[str, Any]:
    """The chat.postMessage body of an alert, or of its escalation (`note` says why)."""
    escalated = escalation_text(note, notice)
    text = slack_text(trigger, account)
    return {
        "channel": channel,
        "text": f"{escape(escalated)}: {text}" if escalated else text,
        "blocks": slack_blocks(trigger, account, link, buttons, escalated),
        "metadata": _metadata(trigger, receiver, notice),
        "unfurl_links": False,
    }


def slack_resolved(
    trigger: TriggerEvent, account: Account, channel: str, receiver: str, thread: str | None
) -> dict[str, Any]:
    """The chat.postMessage body of a resolved notice: a reply in the alert's thread (`thread`,
    its ts; without one, a message of its own), with metadata of its own type."""
    when = iso(trigger.resolved_at) if trigger.resolved_at else "now"
    text = escape(
        f"Resolved: {account.name}: {title(trigger)} ended at {when}"
        f" (health {health_text(trigger)})"
    )
    return {
        "channel": channel,
        "text": text,
        **({"thread_ts": thread} if thread else {}),
        "metadata": _metadata(trigger, receiver, RESOLVED),
    }


def _metadata(trigger: TriggerEvent, receiver: str, notice: str) -> dict[str, Any]:
    return {
        "event_type": event_type(notice),
        "event_payload": {
            "type": trigger.type,
            "account_id": trigger.account_id,
            "dedup_key": trigger.dedup_key,
            "trigger_id": trigger.trigger_id,
            "receiver": receiver,
            "notice": notice,
        },
    }


def slack_text(trigger: TriggerEvent, account: Account) -> str:
    return escape(
        f"[{trigger.severity}] {account.name}: {title(trigger)} - {trigger.summary}"
        f" (health {health_text(trigger)})"
    )


def slack_blocks(
    trigger: TriggerEvent,
    account: Account,
    link: str | None,
    buttons: bool = False,
    escalated: str | None = None,
) -> list[dict[str, Any]]:
    """The alert's blocks; `buttons`: Acknowledge and Snooze 7 days (the API takes their clicks
    at /v1/slack/interactions, which needs the Slack app's signing secret)."""
    emoji = SEVERITY_EMOJI.get(trigger.severity, ":bell:")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": cut(f"{emoji} {account.name}: {title(trigger)}", _HEADER_MAX),
                "emoji": True,
            },
        },
    ]
    if escalated:
        blocks.append({"type": "section", "text": _mrkdwn(f"*{escape(escalated)}*")})
    blocks.append(
        {
            "type": "section",
            "text": _mrkdwn(cut(escape(trigger.summary), _SECTION_MAX)),
            "fields": _fields(trigger, account),
        }
    )
    if trigger.playbook:
        step = f"*Next step*\n{escape(trigger.playbook)}"
        blocks.append({"type": "section", "text": _mrkdwn(cut(step, _SECTION_MAX))})
    if elements := _buttons(trigger, account, link, buttons):
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(cut(f"{trigger.type} · `{escape(trigger.dedup_key)}`", 2000))],
        }
    )
    return blocks


def _fields(trigger: TriggerEvent, account: Account) -> list[dict[str, Any]]:
    return [
        _mrkdwn(f"*Severity*\n{escape(trigger.severity)}"),
        _mrkdwn(f"*Health*\n{escape(health_text(trigger))}"),
        _mrkdwn(
            cut(
                f"*Account*\n{escape(account.name)} (`{escape(trigger.account_id)}`)",
                _FIELD_MAX,
            )
        ),
        *(_mrkdwn(f"*{name}*\n{escape(value)}") for name, value in account_facts(account)),
        _mrkdwn(f"*Fired at*\n{iso(trigger.fired_at)}"),
    ]


def _buttons(
    trigger: TriggerEvent, account: Account, link: str | None, actions: bool
) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = [
        {"type": "button", "text": {"type": "plain_text", "text": name}, "url": url}
        for name, url in links(account, link)
    ]
    if actions:
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
    return elements


# At most this many alerts are shown in full in a group's message (Slack allows 50 blocks).
GROUP_SHOWN = 12


def slack_group(
    alerts: Sequence[tuple[TriggerEvent, Account, str | None]],
    channel: str,
    receiver: str = CSM_RECEIVER,
) -> dict[str, Any]:
    """The chat.postMessage body of a group's alerts (each with its account and the link to
    its page): one section per alert, oldest first, and metadata naming them all."""
    first = alerts[0][0]
    worst = worst_severity(trigger for trigger, _, _ in alerts)
    whom = about(account for _, account, _ in alerts)
    heading = f"{SEVERITY_EMOJI.get(worst, ':bell:')} {len(alerts)} alerts: {whom}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(heading, _HEADER_MAX)}}
    ]
    for trigger, account, link in alerts[:GROUP_SHOWN]:
        blocks += [{"type": "divider"}, _group_section(trigger, account, link)]
    if len(alerts) > GROUP_SHOWN:
        more = f"and {len(alerts) - GROUP_SHOWN} more: see each account's page"
        blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
    one_account = len({account.name for _, account, _ in alerts}) == 1
    summary = "; ".join(
        title(t) if one_account else f"{account.name}: {title(t)}" for t, account, _ in alerts
    )
    metadata = _metadata(first, receiver, ALERT)
    metadata["event_payload"]["dedup_keys"] = [t.dedup_key for t, _, _ in alerts]
    metadata["event_payload"]["trigger_ids"] = [t.trigger_id for t, _, _ in alerts]
    return {
        "channel": channel,
        "text": cut(escape(f"{len(alerts)} alerts: {whom}: {summary}"), _SECTION_MAX),
        "blocks": blocks,
        "metadata": metadata,
        "unfurl_links": False,
    }


def _group_section(trigger: TriggerEvent, account: Account, link: str | None) -> dict[str, Any]:
    lines = [
        f"*{escape(account.name)}: {escape(title(trigger))}* ({escape(trigger.severity)})",
        escape(trigger.summary),
        f"Health {escape(health_text(trigger))}"
        + "".join(f" · {name} {escape(value)}" for name, value in account_facts(account)),
    ]
    if trigger.playbook:
        lines.append(f"*Next step:* {escape(trigger.playbook)}")
    if found := links(account, link):
        lines.append(" · ".join(f"<{url}|{name}>" for name, url in found))
    return {"type": "section", "text": _mrkdwn(cut("\n".join(lines), _SECTION_MAX))}


def slack_handled(blocks: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    """The alert's blocks once someone acted on it: its buttons replaced by who did what (a
    second update with the same words changes nothing)."""
    done = {"type": "context", "elements": [_mrkdwn(cut(escape(what), 2000))]}
    if done in blocks:
        return blocks
    kept = [b for b in blocks if b.get("block_id") != ACTIONS_BLOCK]
    link_buttons = [
        {**b, "elements": [e for e in b.get("elements", []) if "url" in e]}
        for b in blocks
        if b.get("block_id") == ACTIONS_BLOCK
    ]
    return [*kept[:-1], *[b for b in link_buttons if b["elements"]], done, *kept[-1:]]


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def escape(text: str) -> str:
    # Slack reads &, < and > as control characters in message text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
