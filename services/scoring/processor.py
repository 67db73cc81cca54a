"""Scoring's side of the consumer loop: signals in, account state and triggers out.

Per batch: decode every signal, apply it to the in-memory account (pure functions), then
store the touched accounts, the new triggers and dead letters (outboxes) and the offsets in
one transaction, and only then relay them to their topics. Accounts not used lately are kept
as bytes (accounts/cache.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts import repository
from services.scoring.accounts.apply import apply_signal, evaluate, refresh_health
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.layout import PartitionLayout
from services.scoring.accounts.repository import AccountRow
from services.scoring.accounts.state import AccountState, DedupWindow
from services.scoring.metrics import ACCOUNTS_LOADED, SIGNALS_APPLIED, TRIGGERS_FIRED
from services.scoring.settings import ScoringSettings
from shared.contracts.signals import decode_signal
from shared.contracts.triggers import TriggerEvent
from shared.deadletter import DeadLetterOutbox
from shared.metrics import BATCH_RECORDS, FLUSH_SECONDS
from shared.offsets import OffsetMoves
from shared.streaming import Batch, Commit

log = logging.getLogger(__name__)

YIELD_EVERY = 200
TICK_CHUNK = 2000  # live accounts the tick decodes, and stores, at a time


class ScoringProcessor:
    def __init__(
        self,
        settings: ScoringSettings,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        clock: Callable[[], float] = time.time,  # the wall clock, for the tick
        layout: PartitionLayout | None = None,  # None: not checked (tests without a consumer)
    ) -> None:
        self.settings = settings
        self.rules = settings.rules
        self.dedup = DedupWindow.of(settings)
        self.engine = engine
        self.producer = producer
        self.clock = clock
        self.layout = layout
        self.accounts = AccountCache(settings.scoring_hot_accounts)
        self.dead_letters = DeadLetterOutbox(
            engine, producer, topic=settings.topics.dead_letter, service="scoring"
        )
        self._unrelayed = False  # a relay failed: stored triggers wait for the broker
        self._tick_round: tuple[float, list[str]] | None = None  # (wall, accounts left)

    async def assign(self, partitions: list[TopicPartition]) -> None:
        wanted = {tp.partition for tp in partitions}
        if self.layout is not None:
            await self.layout.assigned(wanted)
        async for rows in repository.load_partitions(self.engine, wanted):
            for account_id, partition, blob in rows:
                self.accounts.load(account_id, partition, blob)
        ACCOUNTS_LOADED.set(len(self.accounts))

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        self.accounts.drop({tp.partition for tp in partitions})
        ACCOUNTS_LOADED.set(len(self.accounts))

    async def process(self, batch: Batch, offsets: OffsetMoves) -> Commit:
        """Apply the batch in memory; return the write that stores it, offsets included."""
        if self._unrelayed:  # the broker is back, since records arrive: catch up first
            await self.relay_pending()
        dirty: dict[str, AccountState] = {}  # changed since their rows were last built
        rows: dict[str, AccountRow] = {}
        fired: list[TriggerEvent] = []
        letters = []
        kinds: Counter[str] = Counter()
        for tp, records in batch.items():
            for count, record in enumerate(records, 1):
                state = None
                try:
                    signal = decode_signal(record.value)
                    if self.layout is not None and signal["account_id"] not in self.accounts:
                        self.layout.check_owned(signal["account_id"], tp.partition)
                    state = self.accounts.touch(signal["account_id"], tp.partition)
                    fired += apply_signal(
                        state, signal, self.rules, self.dedup, arrived=record.timestamp / 1000
                    )
                    dirty[state.account_id] = state
                    kinds[signal["kind"]] += 1
                except Exception as exc:  # a malformed signal must not stop the partition
                    kinds["rejected"] += 1
                    if state is not None and state.account_id in rows:
                        # Its row stores the whole batch's changes, this one's too, as if
                        # it had not been built early.
                        dirty[state.account_id] = state
                    reason = f"scoring could not apply signal: {type(exc).__name__}: {exc}"
                    letters.append(self.dead_letters.letter(record, reason))
                if self.accounts.overfull:
                    # Build the rows of the accounts changed so far, and keep half the limit
                    # decoded: the limit holds within a batch of many accounts too.
                    self._settle(dirty, rows, keep=self.accounts.hot_limit // 2)
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # lets the previous batch's write make progress
        ACCOUNTS_LOADED.set(len(self.accounts))
        for kind, count in kinds.items():
            SIGNALS_APPLIED.labels(kind, "rejected" if kind == "rejected" else "applied").inc(count)
        BATCH_RECORDS.labels("scoring").observe(kinds.total())
        self._settle(dirty, rows, keep=self.accounts.hot_limit)
        return functools.partial(self._write, list(rows.values()), fired, offsets, letters)

    def _settle(
        self, dirty: dict[str, AccountState], rows: dict[str, AccountRow], keep: int
    ) -> None:
        """Build the rows of the dirty accounts now (the states change again before the write
        runs), and pack all but the `keep` most recently used, with the bytes just packed."""
        built = {row["account_id"]: row for row in self._rows(dirty.values())}
        rows.update(built)
        dirty.clear()
        self.accounts.evict(keep, {account_id: row["state"] for account_id, row in built.items()})

    async def tick(self, fence: OffsetMoves) -> bool:
        """Time passes for live accounts even when they send nothing: evaluate them at the
        wall clock once it has left their day. Accounts replaying old history are left to
        their own event time.

        A round visits its live accounts at most TICK_CHUNK per call, so the loop (and its
        heartbeat) goes on between chunks; True while the round has accounts left. Each
        chunk's write carries `fence`, the owned partitions' offsets unmoved: an instance
        that lost its partitions without noticing fails it instead of overwriting the new
        owner's accounts. With none live, one empty write still runs: an idle scoring notices
        a lost database."""
        if self._tick_round is None:
            wall = self.clock()
            self._tick_round = (
                wall,
                self.accounts.live(wall - self.settings.live_window_seconds, wall),
            )
        wall, remaining = self._tick_round
        chunk, rest = remaining[:TICK_CHUNK], remaining[TICK_CHUNK:]
        self._tick_round = (wall, rest) if rest else None
        # Accounts of partitions given up since the round began are another instance's now.
        await self._tick([a for a in chunk if a in self.accounts], wall, fence)
        if rest:
            return True
        await self.relay_pending()
        return False

    async def _tick(self, account_ids: list[str], wall: float, fence: OffsetMoves) -> None:
        states = [self.accounts.borrow(a) for a in account_ids]
        dirty, fired = [], []
        for state in states:
            before = (state.health.get("score"), orjson.dumps(state.rules))
            state.advance(wall)
            fired += evaluate(state, state.now, self.rules)
            if (state.health.get("score"), orjson.dumps(state.rules)) != before:
                dirty.append(state)
        rows = self._rows(dirty)
        self.accounts.give_back(states)
        await self._write(rows, fired, fence)

    async def relay_pending(self) -> None:
        """Publish triggers and dead letters stored but not yet relayed (after a crash or a
        broker outage)."""
        self._unrelayed = False
        await self._relay(await repository.unpublished_triggers(self.engine))
        await self._relay_dead_letters()

    def _rows(self, dirty: Iterable[AccountState]) -> list[AccountRow]:
        """The rows to store, built now: the states change again before the write runs."""
        for state in dirty:
            if state.health_stale:
                refresh_health(state, self.rules)
        return [repository.account_row(s) for s in dirty]

    async def _write(
        self,
        rows: list[AccountRow],
        fired: list[TriggerEvent],
        offsets: OffsetMoves | None,
        letters: list[dict[str, object]] | None = None,
    ) -> None:
        started = time.perf_counter()
        async with self.engine.begin() as conn:
            await repository.store_accounts(conn, rows)
            new = await repository.store_triggers(conn, fired)
            await self.dead_letters.store(conn, letters or [])
            if offsets is not None:
                await offsets.store(conn)
        FLUSH_SECONDS.labels("scoring").observe(time.perf_counter() - started)
        for trigger in new:
            TRIGGERS_FIRED.labels(trigger.type).inc()
            log.info("trigger %s: %s", trigger.dedup_key, trigger.summary)
        await self._relay(new)
        if letters:
            await self._relay_dead_letters()

    async def _relay_dead_letters(self) -> None:
        try:
            await self.dead_letters.relay()
        except Exception as exc:  # stored already: relayed again with the next batch or tick
            log.warning("relaying dead letters failed (%s); will retry", exc)
            self._unrelayed = True

    async def _relay(self, fired: list[TriggerEvent]) -> None:
        if not fired:
            return
        try:
            sends = [
                await self.producer.send(
                    self.settings.topics.triggers,
                    value=t.to_json(),
                    key=t.account_id.encode(),
                )
                for t in fired
            ]
            await asyncio.gather(*sends)
            await repository.mark_published(self.engine, [t.trigger_id for t in fired])
        except Exception as exc:  # stored already: relayed again with the next batch or tick
            log.warning("relaying %d triggers failed (%s); will retry", len(fired), exc)
            self._unrelayed = True
