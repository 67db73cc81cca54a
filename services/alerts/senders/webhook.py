"""Webhook receivers: the trigger event POSTed as JSON, signed as Standard Webhooks specifies
(standardwebhooks.com): headers webhook-id, webhook-timestamp and webhook-signature ("v1,"
and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" with the receiver's secret).

webhook-id is the same on every try of one delivery (the trigger's dedup_key and the
receiver): a receiver that keeps the ids it has processed drops a retry of an event it took,
which is how a webhook stays exactly once when an answer is lost. A 2xx answer delivers; 408,
429, 5xx and network errors are retried (honouring Retry-After); any other answer fails the
delivery at once: resending cannot fix it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping

import httpx
from standardwebhooks import Webhook

from services.alerts.models import Account
from services.alerts.notices import ALERT
from services.alerts.routing.model import RoutingFile
from services.alerts.senders.base import Attempt, DeliveryError, Receipt, retry_after_of
from shared.clock import utcnow
from shared.contracts.triggers import TriggerEvent
from shared.errors import ConfigurationError

RETRIED = {408, 429}


class WebhookSender:
    channel = "webhook"
    no_recipient = "no webhook URL"  # never: a webhook delivery carries its receiver's URL
    max_in_flight = 8

    def __init__(
        self, client: httpx.AsyncClient, routing: Callable[[], RoutingFile], timeout: float
    ) -> None:
        self.client = client
        self.routing = routing  # the routing in use: its receivers name their secrets
        self.timeout = timeout

    def recipient(self, account: Account) -> str | None:
        return None  # the URL is the receiver's (the delivery's target), never the account's

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        body = trigger.to_json()
        message_id = webhook_id(trigger.dedup_key, attempt.receiver, attempt.notice)
        sent_at = utcnow()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
        }
        signer = signers(self.routing()).get(attempt.receiver)
        if signer is not None:
            headers["webhook-signature"] = signer.sign(message_id, sent_at, body.decode())
        try:
            response = await self.client.post(
                recipient, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}") from None
        if response.is_success:
            return None
        status = response.status_code
        reason = f"webhook answered {status}: {response.text[:200]}"
        retried = status in RETRIED or status >= 500
        raise DeliveryError(reason, permanent=not retried, retry_after=retry_after_of(response))


def webhook_id(dedup_key: str, receiver: str, notice: str = ALERT) -> str:
    """The same for every try of one notice of an alert (the alert, its escalation, its
    resolved event) to one receiver."""
    key = f"{dedup_key}\n{receiver}" + ("" if notice == ALERT else f"\n{notice}")
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def signers(
    routing: RoutingFile, environ: Mapping[str, str] = os.environ
) -> dict[str, Webhook | None]:
    """Each webhook receiver's signer, from the environment variable its secret_env names (a
    Standard Webhooks secret: "whsec_" and base64); a variable that is named but unset or
    unusable stops the service, naming it."""
    found: dict[str, Webhook | None] = {}
    for receiver in routing.receivers:
        if receiver.webhook is None:
            continue
        variable = receiver.webhook.secret_env
        if variable is None:
            found[receiver.name] = None
            continue
        secret = environ.get(variable)
        if not secret:
            raise ConfigurationError(
                f"{variable} is not set: the secret of the webhook receiver {receiver.name!r}"
            )
        try:
            found[receiver.name] = Webhook(secret)
        except Exception as exc:  # the library raises several kinds (binascii, its own)
            raise ConfigurationError(
                f"{variable}: not a webhook secret (whsec_ and base64): {exc}"
            ) from None
    return found
