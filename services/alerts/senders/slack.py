"""Slack: Web API chat.postMessage with a bot token.

Slack answers most errors with HTTP 200 and {"ok": false, "error": ...}. Only a few of those
can pass by themselves (rate limits, Slack's own trouble); the rest are about the request or
the workspace (no such channel, bot not invited, revoked token) and fail the delivery at once,
so an operator sees them instead of hours of retries.

Before a retry, the sender looks for the message an earlier try may have posted (the worker
can die, or the answer get lost, after Slack accepted it): every alert carries its dedup_key
in its message metadata, so conversations.history with include_all_metadata finds it. That
needs the recipient as an ID (a user U…/W…, opened as a DM with conversations.open, or a
conversation C…/G…/D…) and the history scopes; where the lookup cannot be made, the retry
posts, since an alert twice beats an alert never.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from services.alerts import messages
from services.alerts.models import Account
from services.alerts.senders.base import Attempt, DeliveryError
from shared.contracts.triggers import TriggerEvent

log = logging.getLogger(__name__)

# Slack error codes worth retrying (https://api.slack.com/methods/chat.postMessage#errors).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# How far back of the delivery's creation a lookup reaches (clock skew with Slack), and how
# many pages of history it reads before it concludes the message is not there.
LOOKUP_SLACK_SECONDS = 60
LOOKUP_PAGES = 5


class SlackSender:
    channel = "slack"
    no_recipient = "no Slack recipient: the account has no csm.slack and no default channel is set"
    # Slack answers each post within a round trip and is asked before any retry, so many
    # posts may be under way at once.
    max_in_flight = 50

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str,
        token: str,
        default_channel: str | None,
        public_url: str | None,
    ) -> None:
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.default_channel = default_channel
        self.public_url = public_url

    def recipient(self, account: Account) -> str | None:
        return account.csm_slack or self.default_channel

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> None:
        if attempt.is_retry and await self._already_posted(
            trigger.dedup_key, recipient, attempt.since
        ):
            log.info("alerts: %s was already in Slack; not posting it again", trigger.dedup_key)
            return
        link = messages.account_link(self.public_url, trigger.account_id)
        await self._call(
            "chat.postMessage", json=messages.slack_message(trigger, account, recipient, link)
        )

    async def _already_posted(self, dedup_key: str, recipient: str, since: datetime) -> bool:
        try:
            conversation = await self._conversation_of(recipient)
            if conversation is None:
                return False
            oldest = _epoch(since) - LOOKUP_SLACK_SECONDS
            cursor = ""
            for _ in range(LOOKUP_PAGES):
                page = await self._call(
                    "conversations.history",
                    data={
                        "channel": conversation,
                        "oldest": f"{oldest:.6f}",
                        "include_all_metadata": "true",
                        "limit": "200",
                        **({"cursor": cursor} if cursor else {}),
                    },
                )
                if any(_carries(m, dedup_key) for m in page.get("messages") or []):
                    return True
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
                if not cursor:
                    return False
        except DeliveryError as exc:
            if not exc.permanent:
                raise  # Slack is in trouble: retry later rather than risk a second post
            log.warning("alerts: cannot look up %s in Slack (%s); posting it", dedup_key, exc)
        return False

    async def _conversation_of(self, recipient: str) -> str | None:
        """The conversation ID whose history holds what was posted to `recipient`."""
        if recipient[:1] in ("U", "W"):  # a user: the bot's DM with them
            opened = await self._call("conversations.open", data={"users": recipient})
            channel = opened.get("channel")
            return str(channel["id"]) if isinstance(channel, dict) else None
        if recipient[:1] in ("C", "G", "D"):
            return recipient
        return None  # a channel name: history needs its ID

    async def _call(self, method: str, **body: Any) -> dict[str, Any]:
        try:
            response = await self.client.post(
                f"{self.api_url}/{method}",
                headers={"Authorization": f"Bearer {self.token}"},
                **body,
            )
        except httpx.HTTPError as exc:  # network trouble or timeout: worth another try
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}") from None
        return check_response(response)


def _carries(message: Any, dedup_key: str) -> bool:
    metadata = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(metadata, dict) or metadata.get("event_type") != "pulse_trigger":
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("dedup_key") == dedup_key


def _epoch(moment: datetime) -> float:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def check_response(response: httpx.Response) -> dict[str, Any]:
    """Slack's answer, or DeliveryError unless Slack accepted the call."""
    retry_after = _retry_after(response)
    if response.status_code == 429:
        raise DeliveryError("Slack rate limit (HTTP 429)", retry_after=retry_after)
    if response.status_code >= 500:
        raise DeliveryError(f"Slack HTTP {response.status_code}: {_snippet(response)}")
    if response.status_code != 200:
        raise DeliveryError(
            f"Slack HTTP {response.status_code}: {_snippet(response)}", permanent=True
        )
    data = _json(response)
    if data is None:
        raise DeliveryError(f"Slack answered with no JSON object: {_snippet(response)}")
    if data.get("ok") is True:
        return data
    error = str(data.get("error") or "unknown_error")
    raise DeliveryError(
        f"Slack error: {error}",
        permanent=error not in TRANSIENT_ERRORS,
        retry_after=retry_after,
    )


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _snippet(response: httpx.Response) -> str:
    return " ".join(response.text[:200].split()) or "(empty body)"
