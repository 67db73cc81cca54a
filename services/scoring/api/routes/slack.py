"""/v1/slack/interactions: the Acknowledge and Snooze 7 days buttons of Slack alerts.

Slack signs each request with the app's signing secret (PULSE_SLACK_SIGNING_SECRET): v0,
HMAC-SHA256 of "v0:{timestamp}:{body}", the timestamp within five minutes, compared in
constant time (slack_sdk's SignatureVerifier). It carries no bearer token: the signature is
its authentication (admission.py lets it through the token check, not the rate limit). A
click acknowledges the alert (or silences its account and type for seven days) as the
clicking user, and replaces the message through the response_url Slack gives, its buttons
becoming who did what."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
from fastapi import APIRouter, HTTPException, Request
from slack_sdk.signature import SignatureVerifier

from services.alerts import acknowledgements
from services.alerts.messages import ACK_ACTION, SNOOZE_ACTION, SNOOZE_DAYS, slack_handled
from services.scoring.api import models
from services.scoring.api.answers import TOO_LARGE, refusal
from services.scoring.api.deps import Reads, Settings
from shared.clock import utcnow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/slack", tags=["slack"])
PATH = "/v1/slack/interactions"
ANSWER_SECONDS = 5.0  # Slack waits 3 s for the answer; the message update follows it


@router.post(
    "/interactions",
    response_model=None,
    responses={
        200: {"model": models.Handled},
        401: refusal("not signed by the Slack app (PULSE_SLACK_SIGNING_SECRET), or too old"),
        404: refusal("PULSE_SLACK_SIGNING_SECRET is not set: no buttons, no interactions"),
        **TOO_LARGE,
        429: refusal("over the rate limit of the client address"),
    },
)
async def interactions(request: Request, reads: Reads, settings: Settings) -> dict[str, Any]:
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    if not secret:
        raise HTTPException(404, "PULSE_SLACK_SIGNING_SECRET is not set")
    body = await request.body()
    if not _signed(secret, body, request.headers):
        raise HTTPException(401, "not a request the Slack app signed in the last five minutes")
    payload = _payload(body)
    user = payload.get("user") or {}
    by = str(user.get("username") or user.get("name") or user.get("id") or "someone in Slack")
    handled = []
    for action in payload.get("actions") or []:
        if done := await _act(reads, action, by):
            handled.append(done)
    response_url = payload.get("response_url")
    if handled and isinstance(response_url, str):
        await _replace(response_url, payload.get("message") or {}, "; ".join(handled))
    return {"handled": handled}


def _signed(secret: str, body: bytes, headers: Any) -> bool:
    try:
        return SignatureVerifier(secret).is_valid(
            body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        )
    except (ValueError, UnicodeDecodeError):  # a timestamp that is no number, a body not UTF-8
        return False


def _payload(body: bytes) -> dict[str, Any]:
    try:
        [raw] = parse_qs(body.decode(), strict_parsing=True)["payload"]
        payload = orjson.loads(raw)
    except (ValueError, KeyError, orjson.JSONDecodeError):
        raise HTTPException(422, "payload: not Slack's form-encoded JSON payload") from None
    if not isinstance(payload, dict):
        raise HTTPException(422, "payload: not a JSON object")
    return payload


async def _act(reads: Any, action: dict[str, Any], by: str) -> str | None:
    """Do what the button says; how to say it was done (None for a button not ours)."""
    kind, trigger_id = action.get("action_id"), action.get("value")
    if kind not in (ACK_ACTION, SNOOZE_ACTION) or not isinstance(trigger_id, str):
        return None
    alert = await acknowledgements.alerted(reads, trigger_id[:64])
    if alert is None:
        return None
    now = utcnow()
    if kind == ACK_ACTION:
        kept = await acknowledgements.acknowledge(reads, alert.trigger_id, by, now)
        return f"Acknowledged by {kept.by}"
    await acknowledgements.snooze(reads, alert, SNOOZE_DAYS, by, now)
    return f"Snoozed for {SNOOZE_DAYS} days by {by}"


async def _replace(response_url: str, message: dict[str, Any], what: str) -> None:
    """The message as it is now: its buttons replaced by who did what."""
    update = {
        "replace_original": True,
        "text": message.get("text") or what,
        "blocks": slack_handled(list(message.get("blocks") or []), what),
    }
    try:
        async with httpx.AsyncClient(timeout=ANSWER_SECONDS) as client:
            answer = await client.post(response_url, json=update)
        if not answer.is_success:
            log.warning("Slack refused the message update: %s", answer.status_code)
    except httpx.HTTPError as exc:  # the action is done; only its display lags
        log.warning("Slack message update failed: %s: %s", type(exc).__name__, exc)
