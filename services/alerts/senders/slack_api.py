"""Slack's Web API answers: Slack answers most errors with HTTP 200 and {"ok": false, "error"};
which of them are worth another try."""

from __future__ import annotations

from typing import Any

import httpx

from services.alerts.senders.base import DeliveryError, retry_after_of

# Slack error codes worth retrying (https://api.slack.com/methods/chat.postMessage#errors).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def check_response(response: httpx.Response) -> dict[str, Any]:
    """Slack's answer, or DeliveryError unless Slack accepted the call."""
    retry_after = retry_after_of(response)
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


def _snippet(response: httpx.Response) -> str:
    return " ".join(response.text[:200].split()) or "(empty body)"
