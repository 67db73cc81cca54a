"""Scoring's side of the consumer loop: signals in, account state and triggers out.

Per batch: decode every signal, apply it to the in-memory account (pure functions), then
store the touched accounts, the new triggers and dead letters (outboxes) and the offsets in
one transaction, and only then relay them to their topics. Accounts not used lately are kept
as bytes (accounts/cache.py). Between batches, the tick and the idle topics' judgements
(visits.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts import repository
from services.scoring.accounts.apply import apply_signal, card_of, evaluate, refresh_health
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.layout import PartitionLayout
from services.scoring.accounts.repository import AccountRow
from services.scoring.accounts.state import AccountState, DedupWindow, is_explained
from services.scoring.accounts.time import day_of
from services.scoring.accounts.watermark import WaitingAccounts, Watermarks
from services.scoring.batch import BatchWork
from services.scoring.health.history import Point, chart
from services.scoring.metrics import (
    ACCOUNTS_LOADED,
    ACCOUNTS_WAITING,
    SIGNALS_APPLIED,
    TRIGGERS_FIRED,
)
from services.scoring.relay import Relay
from services.scoring.scorecard.live import LiveScorecard
from services.scoring.scorecard.loading import Scorecard
from services.scoring.settings import ScoringSettings
from services.scoring.visits import Visits
from shared.contracts.signals import decode_signal
from shared.contracts.triggers import TriggerEvent
from shared.deadletter import DeadLetterOutbox
from shared.metrics import BATCH_RECORDS, FLUSH_SECONDS
from shared.offsets import OffsetMoves
from shared.streaming import Batch, Commit

log = logging.getLogger(__name__)

YIELD_EVERY = 200


class ScoringProcessor(Visits):
    def __init__(
        self,
        settings: ScoringSettings,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        clock: Callable[[], float] = time.time,  # the wall clock, for the tick
        scorecard: LiveScorecard | None = None,
        layout: PartitionLayout | None = None,  # None: not checked (tests without a consumer)
    ) -> None:
        self.settings = settings
        self.scorecard = scorecard or LiveScorecard(settings.scorecard)
        self.dedup = DedupWindow.of(settings)
        self.engine = engine
        self.producer = producer
        self.clock = clock
        self.layout = layout
        self.accounts = AccountCache(settings.scoring_hot_accounts, settings.live_window_seconds)
        self.dead_letters = DeadLetterOutbox(
            engine, producer, topic=settings.topics.dead_letter, service="scoring"
        )
        self.relay = Relay(engine, producer, settings.topics.triggers, self.dead_letters)
        self._tick_round = None
        self._held = []
        self.watermarks = Watermarks(settings.watermark_idle_seconds)
        self.waiting = WaitingAccounts(self.watermarks)

    async def assign(self, partitions: list[TopicPartition]) -> None:
        wanted = {tp.partition for tp in partitions}
        if self.layout is not None:
            await self.layout.assigned(wanted)
        async for rows in repository.load_partitions(self.engine, wanted):
            for account_id, partition, blob in rows:
                self.accounts.load(account_id, partition, blob)
        for account_id in self.accounts.loaded_waiting:
            self.waiting.note(self.accounts.borrow(account_id))
        self.accounts.loaded_waiting.clear()
        self._gauge()
        # The loop reloads after a write that reported failure, which may have landed all
        # the same: its triggers are stored but were never relayed. They go out now, not at
        # the next tick.
        await self.relay_pending()

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        given_up = {tp.partition for tp in partitions}
        self.accounts.drop(given_up)
        self.watermarks.forget(given_up)
        self.waiting.forget(given_up)
        self._gauge()

    async def process(self, batch: Batch, offsets: OffsetMoves) -> Commit:
        """Apply the batch in memory; return the write that stores it, offsets included."""
        if self.relay.behind:  # the broker is back, since records arrive: catch up first
            await self.relay.pending()
        work = BatchWork(self.dead_letters, self.scorecard.current, self.clock())
        for tp, records in batch.items():
            for count, record in enumerate(records, 1):
                self._apply(record, tp.partition, work)
                if self.accounts.overfull:
                    # Build the rows of the accounts changed so far, and keep half the limit
                    # decoded: the limit holds within a batch of many accounts too.
                    self._settle(work, keep=self.accounts.hot_limit // 2)
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # lets the previous batch's write make progress
        self._judge_waiting(work)
        self._settle(work, keep=self.accounts.hot_limit)
        self._gauge()
        for kind, count in work.kinds.items():
            SIGNALS_APPLIED.labels(kind, "rejected" if kind == "rejected" else "applied").inc(count)
        BATCH_RECORDS.labels("scoring").observe(work.kinds.total())
        rows = list(work.rows.values())
        return functools.partial(self._write, rows, work.fired, offsets, work.letters, work.points)

    def _apply(self, record: ConsumerRecord, partition: int, work: BatchWork) -> None:
        """Apply one record, or dead-letter it: a signal that fails leaves its account as
        if it had never come (see _undo), and the partition moves on."""
        state = None
        try:
            signal = decode_signal(record.value)
            if self.layout is not None and signal["account_id"] not in self.accounts:
                self.layout.check_owned(signal["account_id"], partition)
            state = self.accounts.touch(signal["account_id"], partition)
            arrived = record.timestamp / 1000
            health = state.health
            ts = cast(dict[str, Any], signal).get("ts")  # records have none
            if isinstance(ts, (float, int)) and math.isfinite(ts):  # a bad one is dead-lettered
                self.watermarks.observe(partition, signal["kind"], float(ts), work.started)
            judge_until = self.watermarks.of(partition, work.started)
            work.fired += apply_signal(
                state, signal, work.scorecard, self.dedup, arrived=arrived, judge_until=judge_until
            )
            self.waiting.note(state)
        except Exception as exc:  # a malformed signal must not stop the partition
            if state is not None:
                self._undo(state, work)
            work.set_aside(record, f"scoring could not apply signal: {type(exc).__name__}: {exc}")
            return
        work.applied(state, record, signal, judge_until)
        # Charted after health was computed, never after a quiet event (apply.is_quiet): the
        # history is then the same however batches are cut and accounts kept.
        evaluated = state.health is not health and not state.health_stale
        if evaluated and (point := chart(state, "signal", signal["signal_id"])):
            work.points.append(point)

    def _judge_waiting(self, work: BatchWork) -> None:
        """Judge the waiting accounts the watermark has moved for, in the batch."""
        for state, times in self.waiting.ready(self.accounts, work.started):
            try:
                fired, points = self._judge(state, work.scorecard, times)
            except Exception:  # its events are applied and stored; the next one judges it
                log.exception("the rules could not judge account %s", state.account_id)
                continue
            work.fired += fired
            work.points += points
            work.dirty[state.account_id] = state

    def _judge(
        self, state: AccountState, scorecard: Scorecard, times: list[float]
    ) -> tuple[list[TriggerEvent], list[Point]]:
        """Judge the account at each time, in order, charting its health at each (the cause:
        the latest event of that day). With days still waiting, its health is left stale:
        scored at its clock when the account is stored."""
        card = card_of(state, scorecard)
        fired, points = [], []
        for at in times:
            fired += evaluate(state, at, card)
            if point := chart(state, "signal", state.causes.get(day_of(at)), at):
                points.append(point)
        if state.causes:
            state.causes = {d: cause for d, cause in state.causes.items() if d in state.waiting}
        if state.waiting:
            state.health_stale = True  # judged at a past day: scored at its clock when stored
        return fired, points

    def _undo(self, state: AccountState, work: BatchWork) -> None:
        """Put an account back as it was before the signal that failed: as last packed, with
        the batch's signals since then applied again (their triggers are already kept)."""
        restored = self.accounts.restore(state.account_id, state.partition)
        for record, signal, judge_until in work.since_packed.get(state.account_id, []):
            arrived = record.timestamp / 1000
            apply_signal(
                restored,
                signal,
                work.scorecard,
                self.dedup,
                arrived=arrived,
                judge_until=judge_until,
            )
        self.waiting.note(restored)
        restored.last_point, restored.daily = state.last_point, state.daily  # charted already
        if state.account_id in work.dirty:
            work.dirty[state.account_id] = restored

    def _settle(self, work: BatchWork, keep: int) -> None:
        """Build the rows of the dirty accounts now (the states change again before the write
        runs), and pack all but the `keep` most recently used, with the bytes just packed.
        An account whose row cannot be built goes back to how it was last packed, and its
        signals since then are dead-lettered: one account's fault does not stall its
        partition."""
        built, failed = self._rows(work.dirty.values(), work.scorecard)
        unbuilt = {state.account_id for state, _ in failed}
        for state in work.dirty.values():
            if state.account_id not in unbuilt:
                self.accounts.schedule(state)
        for state, reason in failed:
            self.accounts.restore(state.account_id, state.partition)
            work.points = [p for p in work.points if p["account_id"] != state.account_id]
            for record, signal, _ in work.since_packed.pop(state.account_id, []):
                work.set_aside(record, reason, counted=signal["kind"])
        for row in built:
            self.accounts.packed(row["account_id"], row["state"])
            work.since_packed.pop(row["account_id"], None)
            work.rows[row["account_id"]] = row
        work.dirty.clear()
        self.accounts.evict(keep, {row["account_id"]: row["state"] for row in built})

    def _gauge(self) -> None:
        ACCOUNTS_LOADED.set(len(self.accounts))
        ACCOUNTS_WAITING.set(len(self.waiting))

    async def relay_pending(self) -> None:
        await self.relay.pending()

    def _rows(
        self, dirty: Iterable[AccountState], scorecard: Scorecard
    ) -> tuple[list[AccountRow], list[tuple[AccountState, str]]]:
        """The rows to store, built now (the states change again before the write runs), and
        the accounts whose row could not be built, with the reason."""
        rows, failed = [], []
        for state in dirty:
            try:
                if state.health_stale or not is_explained(state.health):
                    refresh_health(state, card_of(state, scorecard))
                rows.append(repository.account_row(state))
            except Exception as exc:
                log.exception("account %s cannot be stored", state.account_id)
                reason = f"scoring could not store account {state.account_id}: "
                failed.append((state, f"{reason}{type(exc).__name__}: {exc}"))
        return rows, failed

    async def _write(
        self,
        rows: list[AccountRow],
        fired: list[TriggerEvent],
        offsets: OffsetMoves | None,
        letters: list[dict[str, object]] | None = None,
        points: list[Point] | None = None,
    ) -> None:
        started = time.perf_counter()
        async with self.engine.begin() as conn:
            await repository.store_accounts(conn, rows)
            await repository.store_points(conn, points or [])
            new = await repository.store_triggers(conn, fired)
            await self.dead_letters.store(conn, letters or [])
            if offsets is not None:
                await offsets.store(conn)
        FLUSH_SECONDS.labels("scoring").observe(time.perf_counter() - started)
        for trigger in new:
            TRIGGERS_FIRED.labels(trigger.type).inc()
            log.info("trigger %s: %s", trigger.dedup_key, trigger.summary)
        await self.relay.triggers(new)
        if letters:
            await self.relay.letters()
