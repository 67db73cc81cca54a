"""Slack: Web API chat.postMessage with a bot token.

Slack answers most errors with HTTP 200 and {"ok": false, "error": ...}. Only a few of those
can pass by themselves (rate limits, Slack's own trouble); the rest are about the request or
the workspace (no such channel, bot not invited, revoked token) and fail the delivery at once,
so an operator sees them instead of hours of retries.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.alerts import messages
from services.alerts.models import Account, Trigger
from services.alerts.senders.base import DeliveryError

# Slack error codes worth retrying (https://api.slack.com/methods/chat.postMessage#errors).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackSender:
    channel = "slack"
    no_recipient = "no Slack recipient: the account has no csm.slack and no default channel is set"

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
        self.url = f"{api_url.rstrip('/')}/chat.postMessage"
        self.token = token
        self.default_channel = default_channel
        self.public_url = public_url

    def recipient(self, account: Account) -> str | None:
        return account.csm_slack or self.default_channel

    async def send(self, trigger: Trigger, account: Account, recipient: str) -> None:
        link = messages.account_link(self.public_url, trigger.account_id)
        body = messages.slack_message(trigger, account, recipient, link)
        try:
            response = await self.client.post(
                self.url,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as exc:  # network trouble or timeout: worth another try
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}") from None
        check_response(response)


def check_response(response: httpx.Response) -> None:
    """Raise DeliveryError unless Slack accepted the message."""
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
        return
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
