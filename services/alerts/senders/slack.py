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

A post the worker stopped waiting for (its delivery timeout) is not abandoned: Slack may still
take it, and a lookup made before it lands would not see it. The sender keeps listening for
Slack's answer, and this instance's retry waits for that answer instead of posting again. A
retry made elsewhere meanwhile cannot wait for it, so whichever post may be a second one checks
once it has landed and deletes itself if an older message carries the same dedup_key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from services.alerts import messages
from services.alerts.messages import event_type
from services.alerts.models import Account
from services.alerts.notices import ALERT, RESOLVED, UPDATES
from services.alerts.routing.model import CSM_RECEIVER
from services.alerts.senders.base import Attempt, DeliveryError, Receipt
from services.alerts.senders.pace import Pace
from services.alerts.senders.slack_api import check_response
from shared.contracts.triggers import TriggerEvent

log = logging.getLogger(__name__)

# How far back of the delivery's creation a lookup reaches (clock skew with Slack), and how
# many pages of history it reads before it concludes the message is not there.
LOOKUP_SLACK_SECONDS = 60
LOOKUP_PAGES = 5
# How long a call waits for Slack's answer. The worker's timeout bounds each attempt; a post
# that outlives its attempt is still listened to, since Slack may take it all the same.
ANSWER_SECONDS = 120.0


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
        buttons: bool = False,
        pace: Pace | None = None,
    ) -> None:
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.default_channel = default_channel
        self.public_url = public_url
        self.buttons = buttons  # Acknowledge and Snooze (with the app's signing secret)
        self.pace = pace or Pace(0, wait_at_most=0)
        # Posts whose attempt ended before Slack answered.
        self._unanswered: dict[_Post, asyncio.Task[Receipt | None]] = {}

    def recipient(self, account: Account) -> str | None:
        return account.csm_slack or self.default_channel

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """Post the alert (or its escalation), or its resolved notice (in the alert's thread),
        or edit the alert's message (an update); where the message is."""
        if attempt.notice in UPDATES:
            return await self._update(trigger, account, recipient, attempt)
        post_of = _Post((trigger.dedup_key,), attempt.receiver, attempt.notice, attempt.thread)
        body = self._body(trigger, account, recipient, attempt)
        return await self._post_once(post_of, lambda _: body, recipient, attempt)

    async def sent_before(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """The message of this notice an earlier attempt posted, alone or in a group's."""
        post_of = _Post((trigger.dedup_key,), attempt.receiver, attempt.notice, attempt.thread)
        landed, receipt = await self._earlier_post(post_of)
        if landed:
            return receipt or Receipt("")
        found, covered = await self._already_posted(post_of, recipient, attempt)
        return found if trigger.dedup_key in covered else None

    async def send_group(
        self, alerts: Sequence[tuple[TriggerEvent, Account]], recipient: str, attempt: Attempt
    ) -> Receipt | None:
        """Post a group's alerts in one message (no buttons: each alert is acknowledged on
        its page)."""
        link = partial(messages.account_link, self.public_url)
        shown = {t.dedup_key: (t, account, link(t.account_id)) for t, account in alerts}

        def body(keys: tuple[str, ...]) -> dict[str, Any]:
            return messages.slack_group([shown[key] for key in keys], recipient, attempt.receiver)

        post_of = _Post(tuple(shown), attempt.receiver, ALERT, None)
        return await self._post_once(post_of, body, recipient, attempt)

    async def _post_once(
        self,
        post_of: _Post,
        body: Callable[[tuple[str, ...]], dict[str, Any]],
        recipient: str,
        attempt: Attempt,
    ) -> Receipt | None:
        """Post the message (`body` of the alerts' dedup_keys) unless an earlier try of this
        delivery did. A group's retry posts only the alerts no earlier message holds (an
        alert may have joined the group since)."""
        landed, receipt = await self._earlier_post(post_of)
        if landed:
            log.info("alerts: Slack took %s from an earlier attempt after all", post_of.name)
            return receipt
        if attempt.is_retry:
            found, covered = await self._already_posted(post_of, recipient, attempt)
            missing = tuple(key for key in post_of.keys if key not in covered)
            if not missing:
                log.info("alerts: %s was already in Slack; not posting it again", post_of.name)
                return found
            post_of = replace(post_of, keys=missing)
        await self.pace.wait_turn(recipient)
        post = asyncio.create_task(self._post(post_of, body(post_of.keys), attempt))
        try:
            return await asyncio.shield(post)
        except asyncio.CancelledError:  # the worker's timeout: Slack may still take the post
            self._unanswered[post_of] = post
            post.add_done_callback(lambda done: self._forget(post_of, done))
            raise

    async def _earlier_post(self, post_of: _Post) -> tuple[bool, Receipt | None]:
        """Waits for Slack's answer to an earlier attempt's post still under way, if any (the
        worker's timeout bounds the wait): whether Slack took it, and where."""
        post = self._unanswered.get(post_of)
        if post is None:
            return False, None
        await asyncio.wait([post])
        if post.cancelled() or post.exception() is not None:
            return False, None
        return True, post.result()

    def _forget(self, post_of: _Post, post: asyncio.Task[Receipt | None]) -> None:
        if self._unanswered.get(post_of) is post:
            del self._unanswered[post_of]
        error = None if post.cancelled() else post.exception()
        if error is not None:
            log.info("alerts: late answer to the post of %s: %s", post_of.name, self._scrub(error))

    def _body(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> dict[str, Any]:
        if attempt.notice == RESOLVED:
            return messages.slack_resolved(
                trigger, account, recipient, attempt.receiver, attempt.thread
            )
        return messages.slack_message(
            trigger,
            account,
            recipient,
            messages.account_link(self.public_url, trigger.account_id),
            attempt.receiver,
            buttons=self.buttons,
            notice=attempt.notice,
            note=attempt.note,
        )

    async def _post(self, post_of: _Post, body: dict[str, Any], attempt: Attempt) -> Receipt | None:
        answer = await self._call("chat.postMessage", json=body)
        late = self._unanswered.get(post_of) is asyncio.current_task()
        if attempt.is_retry or late:
            await self._delete_if_second(post_of, answer, attempt.since)
        ts, conversation = answer.get("ts"), answer.get("channel")
        if not isinstance(ts, str):
            return None
        return Receipt(ts, conversation if isinstance(conversation, str) else None)

    async def _update(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt:
        """Edit the alert's message (attempt.thread) to say what attempt.note says (who
        acknowledged or snoozed it), its buttons gone. The message is read back first: it
        may have been edited already (the button's own update, or other notes)."""
        conversation = attempt.conversation or await self._conversation_of(recipient)
        if conversation is None or attempt.thread is None:
            raise DeliveryError("the alert's Slack message is unknown", permanent=True)
        page = await self._call(
            "conversations.history",
            data={
                "channel": conversation,
                "latest": attempt.thread,
                "inclusive": "true",
                "limit": "1",
            },
        )
        found = [m for m in page.get("messages") or [] if m.get("ts") == attempt.thread]
        if not found:
            raise DeliveryError("the alert's message is no longer in Slack", permanent=True)
        message = found[0]
        what = attempt.note or ""
        if len(_keys_of(message)) > 1:  # a group's message: say which of its alerts
            what = f"{account.name}: {messages.title(trigger)}: {what}"
        blocks = messages.slack_handled(list(message.get("blocks") or []), what)
        await self._call(
            "chat.update",
            json={
                "channel": conversation,
                "ts": attempt.thread,
                "text": message.get("text") or attempt.note,
                "blocks": blocks,
            },
        )
        return Receipt(attempt.thread, conversation)

    async def _delete_if_second(
        self, post_of: _Post, answer: dict[str, Any], since: datetime
    ) -> None:
        """Deletes the message Slack just took if an older one carries the same key for the
        same receiver."""
        conversation, ts = answer.get("channel"), answer.get("ts")
        if not (isinstance(conversation, str) and isinstance(ts, str)):
            return
        try:
            posted = await self._posts_of(post_of, conversation, since)
            if not any(
                Decimal(other) < Decimal(ts) and set(post_of.keys) <= keys for other, keys in posted
            ):
                return
            await self._call("chat.delete", data={"channel": conversation, "ts": ts})
        except DeliveryError as exc:  # the alert is in Slack either way
            log.warning(
                "alerts: cannot check %s for a second message: %s", post_of.name, self._scrub(exc)
            )
            return
        log.warning("alerts: %s was in Slack twice; deleted the later message", post_of.name)

    async def _already_posted(
        self, post_of: _Post, recipient: str, attempt: Attempt
    ) -> tuple[Receipt | None, set[str]]:
        """Where an earlier attempt put this post in Slack, and which of its alerts (a
        group's) it holds; nothing when none did."""
        try:
            conversation = await self._conversation_of(recipient)
            if conversation is None:
                return None, set()
            posted = await self._posts_of(post_of, conversation, attempt.since)
            covered = set().union(*(keys for _, keys in posted))
            return (Receipt(posted[0][0], conversation) if posted else None), covered
        except DeliveryError as exc:
            if not exc.permanent:
                raise  # Slack is in trouble: retry later rather than risk a second post
            log.warning(
                "alerts: cannot look up %s in Slack (%s); posting it",
                post_of.name,
                self._scrub(exc),
            )
        return None, set()

    async def _posts_of(
        self, post_of: _Post, conversation: str, since: datetime
    ) -> list[tuple[str, set[str]]]:
        """Each message in the conversation (a resolved notice: in the alert's thread) of
        this receiver and notice carrying any of the post's keys, posted since `since`,
        oldest first: its ts and the keys it carries."""
        oldest = _epoch(since) - LOOKUP_SLACK_SECONDS
        method, where = "conversations.history", {}
        if post_of.thread:
            method, where = "conversations.replies", {"ts": post_of.thread}
        found: list[tuple[str, set[str]]] = []
        cursor = ""
        for _ in range(LOOKUP_PAGES):
            page = await self._call(
                method,
                data={
                    "channel": conversation,
                    **where,
                    "oldest": f"{oldest:.6f}",
                    "include_all_metadata": "true",
                    "limit": "200",
                    **({"cursor": cursor} if cursor else {}),
                },
            )
            for message in page.get("messages") or []:
                if keys := _carried(message, post_of):
                    found.append((str(message["ts"]), keys))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return sorted(found, key=lambda posted: Decimal(posted[0]))

    async def _conversation_of(self, recipient: str) -> str | None:
        """The conversation ID whose history holds what was posted to `recipient`."""
        if recipient[:1] in ("U", "W"):  # a user: the bot's DM with them
            opened = await self._call("conversations.open", data={"users": recipient})
            channel = opened.get("channel")
            return str(channel["id"]) if isinstance(channel, dict) else None
        if recipient[:1] in ("C", "G", "D"):
            return recipient
        return None  # a channel name: history needs its ID

    def _scrub(self, error: BaseException) -> str:
        """The error's text without the token: Slack may quote it, and this is logged."""
        return str(error).replace(self.token, "***")

    async def _call(self, method: str, **body: Any) -> dict[str, Any]:
        try:
            response = await self.client.post(
                f"{self.api_url}/{method}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=ANSWER_SECONDS,
                **body,
            )
        except httpx.HTTPError as exc:  # network trouble or timeout: worth another try
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}") from None
        return check_response(response)


@dataclass(frozen=True)
class _Post:
    """One message of one delivery: an alert, its escalation or its resolved notice."""

    keys: tuple[str, ...]  # the dedup_key; a group's message: its alerts'
    receiver: str
    notice: str  # services/alerts/notices.py
    thread: str | None  # the alert's ts, for the resolved notice

    @property
    def name(self) -> str:
        """How the log names it."""
        return self.keys[0] if len(self.keys) == 1 else f"the group of {', '.join(self.keys)}"


def _carried(message: Any, post_of: _Post) -> set[str]:
    """Which of the post's keys the message carries, if it is of the post's receiver and
    notice."""
    metadata = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(metadata, dict) or metadata.get("event_type") != event_type(post_of.notice):
        return set()
    payload = metadata.get("event_payload")
    if not (
        isinstance(payload, dict)
        # Messages posted before receivers existed were the CSM's, and before escalations,
        # alerts.
        and payload.get("receiver", CSM_RECEIVER) == post_of.receiver
        and payload.get("notice", RESOLVED if post_of.notice == RESOLVED else ALERT)
        == post_of.notice
    ):
        return set()
    return set(post_of.keys) & _keys_of(message)


def _keys_of(message: Any) -> set[str]:
    """The dedup_keys of the alerts a message carries (its metadata's)."""
    payload = ((message.get("metadata") or {}) if isinstance(message, dict) else {}).get(
        "event_payload"
    )
    if not isinstance(payload, dict):
        return set()
    keys = payload.get("dedup_keys") or [payload.get("dedup_key")]
    return {key for key in keys if isinstance(key, str)}


def _epoch(moment: datetime) -> float:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
