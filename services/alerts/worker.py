"""The delivery worker: sends due deliveries and records each outcome.

Every poll it leases, channel by channel, the due rows that channel has room for (its sender's
max_in_flight) and sends each in its own task, so one slow or failing receiver never holds up
the others, nor the next poll. A row of a group (grouping.py) brings the group's other pending
rows along: they go in one message per recipient, and share its outcome. Outcomes:

- sent: `delivered`, with the recipient and the time;
- a transient error: back to `pending` with exponential backoff (or the receiver's own
  Retry-After), until delivery_max_attempts, then `failed`;
- a permanent error: `failed` at once;
- nobody to send to: `skipped`, with the reason.

Secrets (the Slack token, the SMTP and IMAP passwords) are scrubbed from every error text
before it is logged or stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts import escalations, inhibition, leases, repository, silences
from services.alerts.bundles import Ready, as_group, by_recipient, group_attempt
from services.alerts.inhibition import Firing
from services.alerts.leases import DELIVERED, FAILED, SILENCED, SKIPPED, Claimed
from services.alerts.metrics import DELIVERIES, DELIVERIES_IN_DOUBT, DELIVERIES_PENDING
from services.alerts.models import Account
from services.alerts.notices import ESCALATED, FOLLOW_UPS, RESOLVED
from services.alerts.outcomes import RETRY, Outcome, OutcomeBatches, backoff_seconds
from services.alerts.repository import why_muted
from services.alerts.routing.loading import BUILT_IN_ROUTING
from services.alerts.routing.model import RoutingFile
from services.alerts.routing.plan import labels_of
from services.alerts.senders import Attempt, DeliveryError, LooksBack, Sender
from services.alerts.settings import AlertsSettings
from services.alerts.silences import Silence
from shared.clock import utcnow
from shared.contracts.messages import describe
from shared.contracts.triggers import TriggerEvent
from shared.readiness import Readiness

log = logging.getLogger(__name__)

READINESS_PART = "alerts-delivery"


@dataclass(frozen=True)
class Mutes:
    routing: RoutingFile
    in_force: list[Silence]
    firing: Firing


class DeliveryWorker:
    def __init__(
        self,
        *,
        settings: AlertsSettings,
        engine: AsyncEngine,
        senders: Mapping[str, Sender],
        readiness: Readiness,
        scrub: Callable[[str], str],
        routing: Callable[[], RoutingFile] = lambda: BUILT_IN_ROUTING,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.senders = senders
        self.routing = routing
        self.readiness = readiness
        self.scrub = scrub
        self._wake = asyncio.Event()
        self._in_flight: dict[str, set[asyncio.Task[None]]] = {c: set() for c in senders}
        self._outcomes = OutcomeBatches(engine)
        self._elsewhere_reported = False
        # What currently stops alerts from going out, by channel (or "poll"): for readiness.
        self._problems: dict[str, str] = {}

    def nudge(self) -> None:
        """New deliveries were added: poll now instead of at the next interval."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._poll()
                await self._sleep(stop)
        finally:
            # Let sends already under way finish (each is bounded by the delivery timeout),
            # so a clean stop leaves no delivery waiting for its lease to run out.
            sends = [task for tasks in self._in_flight.values() for task in tasks]
            await asyncio.gather(*sends, return_exceptions=True)

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waiters,
                timeout=self.settings.delivery_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    async def _poll(self) -> None:
        try:
            if not self._elsewhere_reported:
                await self._report_pending_elsewhere()
                self._elsewhere_reported = True
            for channel, sender in self.senders.items():
                room = sender.max_in_flight - len(self._in_flight[channel])
                if room > 0:
                    await self._claim_and_send(channel, room)
            DELIVERIES_PENDING.set(await repository.count_pending(self.engine))
        except Exception as exc:  # database trouble: report it and try again next poll
            reason = self.scrub(f"{type(exc).__name__}: {exc}")
            log.warning("alerts: delivery poll failed: %s", reason)
            self._set_problem("poll", reason)
        else:
            self._set_problem("poll", None)

    async def _report_pending_elsewhere(self) -> None:
        """Pending rows of a channel this instance does not send stay pending, for an instance
        that sends it; an operator who retired the channel ends them with a command."""
        for channel, count in (
            await repository.pending_elsewhere(self.engine, list(self.senders))
        ).items():
            text = (
                f"{count} pending {channel} deliveries, a channel this instance does not send: "
                f"an instance with {channel} configured sends them; if {channel} is gone for "
                f"good, `pulse deliveries skip --channel {channel}` ends them"
            )
            log.warning("alerts: %s", text)
            self.readiness.notice(f"alerts {channel}", text)

    async def _claim_and_send(self, channel: str, limit: int) -> None:
        lease = timedelta(seconds=2 * self.settings.delivery_timeout_seconds)
        claimed = await leases.claim_due(self.engine, lease=lease, limit=limit, channel=channel)
        if not claimed:
            return
        in_flight = self._in_flight[channel]
        sends = await self._gather_groups(claimed, channel, lease)
        mutes = await self._mutes({row.account_id for rows in sends for row in rows})
        for rows in sends:
            for row in rows:
                if row.in_doubt:
                    self._report_in_doubt(row)
            task = asyncio.create_task(self._deliver(rows, mutes))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def _gather_groups(
        self, claimed: list[Claimed], channel: str, lease: timedelta
    ) -> list[list[Claimed]]:
        """The sends to make: a row alone, or a group's rows claimed and their pending mates."""
        sends: list[list[Claimed]] = []
        groups: dict[str, list[Claimed]] = {}
        for row in claimed:
            if row.group_key is None:
                sends.append([row])
            else:
                groups.setdefault(row.group_key, []).append(row)
        for key, rows in groups.items():
            mates = await leases.claim_group(self.engine, key, channel, lease=lease)
            sends.append(sorted([*rows, *mates], key=lambda r: (r.created_at, r.dedup_key)))
        return sends

    async def _mutes(self, account_ids: set[str]) -> Mutes:
        """What mutes a delivery now: a silence or an alert firing that an inhibit rule names
        may have come after the delivery was made."""
        routing = self.routing()
        async with self.engine.connect() as conn:
            in_force = await silences.in_force(conn, utcnow())
            firing = await inhibition.firing(conn, account_ids) if routing.inhibit_rules else {}
        return Mutes(routing, in_force, firing)

    def _report_in_doubt(self, row: Claimed) -> None:
        DELIVERIES_IN_DOUBT.labels(row.channel).inc()
        log.warning(
            "alerts: %s alert %s: attempt %d ended without an outcome (a crash or a lost "
            "database); it may have arrived, attempt %d follows",
            row.channel,
            row.dedup_key,
            row.attempts - 1,
            row.attempts,
        )

    async def _deliver(self, rows: Sequence[Claimed], mutes: Mutes) -> None:
        """Send the rows (one, or a group's) and record each outcome."""
        ready: list[Ready] = []
        ends = []
        for row in rows:
            prepared = await self._prepare(row, mutes)
            if isinstance(prepared, Outcome):
                ends.append(self._finish(row, prepared))
            else:
                ready.append(prepared)
        for bundle in by_recipient(ready):
            outcome = await self._send(bundle)
            ends += [self._finish(item.row, outcome) for item in bundle]
        await asyncio.gather(*ends)

    async def _finish(self, row: Claimed, outcome: Outcome) -> None:
        try:
            await self._record(row, outcome)
        except Exception as exc:
            # The row keeps its lease and is tried again once it runs out: if the send
            # succeeded, that is the one resend the service module documents.
            log.warning(
                "alerts: could not record %s of %s/%s: %s",
                outcome.status,
                row.channel,
                row.dedup_key,
                self.scrub(f"{type(exc).__name__}: {exc}"),
            )

    async def _prepare(self, row: Claimed, mutes: Mutes) -> Ready | Outcome:
        """The delivery ready to send, or why it ends (or waits) without a send."""
        try:
            trigger = TriggerEvent.model_validate_json(row.payload)
        except ValidationError as exc:
            return Outcome(FAILED, None, f"stored trigger unreadable: {describe(exc)}")
        alert = None
        if row.notice in FOLLOW_UPS:
            after = await self._after_alert(row)
            if isinstance(after, Outcome):
                return after
            alert = after
        elif stopped := await self._held_back(row, trigger, mutes):
            return await self._unless_sent(row, trigger, stopped)
        return self._ready(row, trigger, alert)

    def _ready(
        self, row: Claimed, trigger: TriggerEvent, alert: repository.SentAlert | None
    ) -> Ready | Outcome:
        sender = self.senders[row.channel]
        account = Account.of(trigger)
        recipient = row.target or sender.recipient(account)
        if recipient is None:
            return Outcome(SKIPPED, None, sender.no_recipient)
        attempt = Attempt(
            row.attempts,
            row.created_at,
            row.receiver,
            notice=row.notice,
            thread=alert.message_ts if alert else None,
            conversation=alert.message_channel if alert else None,
            note=row.note,
        )
        return Ready(row, trigger, account, recipient, attempt)

    async def _unless_sent(self, row: Claimed, trigger: TriggerEvent, stopped: Outcome) -> Outcome:
        """A delivery in doubt that is no longer to be sent (silenced, acknowledged, resolved
        since) may have been sent by the attempt that died: asked, the receiver says which,
        and the row tells the truth."""
        sender = self.senders[row.channel]
        if not row.in_doubt or not isinstance(sender, LooksBack):
            return stopped
        ready = self._ready(row, trigger, None)
        if isinstance(ready, Outcome):
            return stopped
        try:
            found = await sender.sent_before(
                ready.trigger, ready.account, ready.recipient, ready.attempt
            )
        except DeliveryError as exc:
            if exc.permanent:
                return stopped
            return Outcome(RETRY, ready.recipient, exc.reason, exc.retry_after, counts=False)
        if found is None:
            return stopped
        receipt = found if found.ts else None
        return Outcome(DELIVERED, ready.recipient, receipt=receipt)

    async def _send(self, bundle: Sequence[Ready]) -> Outcome:
        """One message: of one delivery, or of a group's to one recipient."""
        first = bundle[0]
        sender = self.senders[first.row.channel]
        timeout = self.settings.delivery_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                if len(bundle) == 1:
                    receipt = await sender.send(
                        first.trigger, first.account, first.recipient, first.attempt
                    )
                else:
                    receipt = await as_group(sender).send_group(
                        [(item.trigger, item.account) for item in bundle],
                        first.recipient,
                        group_attempt(bundle),
                    )
        except DeliveryError as exc:
            status = FAILED if exc.permanent else RETRY
            return Outcome(status, first.recipient, exc.reason, exc.retry_after, counts=exc.counts)
        except TimeoutError:
            return Outcome(RETRY, first.recipient, f"no answer within {timeout:g}s")
        except Exception as exc:  # anything unforeseen is retried, not lost
            return Outcome(RETRY, first.recipient, f"{type(exc).__name__}: {exc}")
        return Outcome(DELIVERED, first.recipient, receipt=receipt)

    async def _held_back(self, row: Claimed, trigger: TriggerEvent, mutes: Mutes) -> Outcome | None:
        """Why an alert or escalation is not sent after all: a silence or inhibition that
        came meanwhile; for an escalation, an acknowledgement or the alert resolving."""
        labels = labels_of(trigger)
        muted = why_muted(labels, mutes.routing, mutes.in_force, mutes.firing, utcnow())
        if muted is not None:
            return Outcome(SILENCED, None, muted)
        if row.notice == ESCALATED:
            why = await escalations.why_not(self.engine, row.trigger_id, row.dedup_key)
            if why is not None:
                return Outcome(SKIPPED, None, why)
        return None

    async def _after_alert(self, row: Claimed) -> Outcome | repository.SentAlert:
        """A follow-up (a resolved notice, a message update) follows its alert: the alert's
        delivery once it went, a retry while it has not yet, a skip if it never will."""
        alert = await repository.alert_sent(self.engine, row)
        if alert is None or alert.status in (FAILED, SKIPPED, SILENCED):
            return Outcome(SKIPPED, None, "its alert was not sent")
        if alert.status != DELIVERED:
            wait = self.settings.delivery_poll_seconds
            return Outcome(RETRY, None, "waits for its alert to go first", wait, counts=False)
        return alert

    async def _record(self, row: Claimed, outcome: Outcome) -> None:
        status, error = outcome.status, self.scrub(outcome.error)
        if (
            status == RETRY
            and outcome.counts
            and row.attempts >= self.settings.delivery_max_attempts
        ):
            status, error = FAILED, f"gave up after {row.attempts} attempts: {error}"
        recorded = await self._store(row, status, outcome, error)
        DELIVERIES.labels(row.channel, status).inc()
        if not recorded:
            # The lease ran out during the send and another worker holds the row now; its
            # outcome is the one that counts.
            log.warning("alerts: lost the lease of %s/%s", row.channel, row.dedup_key)
            return
        self._log(row, status, outcome.recipient, error)
        if status in (DELIVERED, RETRY, FAILED):
            self._set_problem(row.channel, error or None)

    async def _store(self, row: Claimed, status: str, outcome: Outcome, error: str) -> bool:
        s, now = self.settings, utcnow()
        if status == DELIVERED:
            return await self._outcomes.store(
                row, leases.delivered(outcome.recipient or "", now, outcome.receipt)
            )
        if status == RETRY:
            delay = outcome.retry_after
            if delay is None:
                delay = backoff_seconds(
                    row.attempts, s.delivery_backoff_base_seconds, s.delivery_backoff_max_seconds
                )
            at = now + timedelta(seconds=delay)
            return await self._outcomes.store(row, leases.retry(outcome.recipient, error, at))
        return await self._outcomes.store(row, leases.final(status, outcome.recipient, error))

    def _log(self, row: Claimed, status: str, recipient: str | None, error: str) -> None:
        kind = {RESOLVED: "resolved notice", ESCALATED: "escalation"}.get(row.notice, row.notice)
        what = f"{row.channel} {kind} {row.dedup_key} to {row.receiver} (attempt {row.attempts})"
        if status == DELIVERED:
            log.info("alerts: delivered %s to %s", what, recipient)
        elif status == RETRY:
            log.warning("alerts: %s failed, will retry: %s", what, error)
        elif status == FAILED:
            log.error("alerts: %s failed for good: %s", what, error)
        elif status == SILENCED:
            log.info("alerts: %s not sent: %s", what, error)
        else:
            log.warning("alerts: skipped %s: %s", what, error)

    def _set_problem(self, part: str, problem: str | None) -> None:
        if problem is None:
            self._problems.pop(part, None)
        else:
            self._problems[part] = problem
        if self._problems:
            reasons = "; ".join(f"{k}: {v}" for k, v in sorted(self._problems.items()))
            self.readiness.fail(READINESS_PART, reasons)
        else:
            self.readiness.ok(READINESS_PART)
