"""Scoring's work between batches: time passing for accounts that send nothing (the tick),
and accounts judged once their topics went idle. A part of ScoringProcessor (processor.py),
which keeps the batches; apart because it is its own job: visiting accounts outside a batch
and storing what changed, fenced by the partitions' offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts import repository
from services.scoring.accounts.apply import card_of, evaluate
from services.scoring.accounts.cache import AccountCache
from services.scoring.accounts.packing import pack_account, times_of
from services.scoring.accounts.repository import AccountRow
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.ticking import tick_time
from services.scoring.accounts.watermark import WaitingAccounts, Watermarks
from services.scoring.health.history import Point, chart
from services.scoring.scorecard.live import LiveScorecard
from services.scoring.scorecard.loading import Scorecard
from services.scoring.settings import ScoringSettings
from shared.contracts.triggers import TriggerEvent
from shared.offsets import OffsetMoves

log = logging.getLogger(__name__)

TICK_CHUNK = 2000  # live accounts the tick decodes, and stores, at a time


class Visits:
    """The tick and the idle topics' judgements, for ScoringProcessor."""

    settings: ScoringSettings
    scorecard: LiveScorecard
    engine: AsyncEngine
    clock: Callable[[], float]
    accounts: AccountCache
    watermarks: Watermarks
    waiting: WaitingAccounts
    _tick_round: tuple[float, list[str]] | None  # (wall, accounts left)
    _held: list[str]  # due, but the watermark has not reached their next day

    if TYPE_CHECKING:  # the processor's, used here

        def _judge(
            self, state: AccountState, scorecard: Scorecard, times: list[float]
        ) -> tuple[list[TriggerEvent], list[Point]]: ...

        def _rows(
            self, dirty: list[AccountState], scorecard: Scorecard
        ) -> tuple[list[AccountRow], list[tuple[AccountState, str]]]: ...

        async def _write(
            self,
            rows: list[AccountRow],
            fired: list[TriggerEvent],
            offsets: OffsetMoves | None,
            letters: list[dict[str, object]] | None = None,
            points: list[Point] | None = None,
        ) -> None: ...

        def _gauge(self) -> None: ...

        async def relay_pending(self) -> None: ...

    async def tick(self, fence: OffsetMoves) -> bool:
        """Time passes for live accounts and new ones even when they send nothing: evaluate
        them at the wall clock once it has left their day (accounts/ticking.py). Accounts
        replaying old history are left to their own event time.

        A round visits its due accounts at most TICK_CHUNK per call, so the loop (and its
        heartbeat) goes on between chunks; True while the round has accounts left. Each
        chunk's write carries `fence`, the owned partitions' offsets unmoved: an instance
        that lost its partitions without noticing fails it instead of overwriting the new
        owner's accounts. With none live, one empty write still runs: an idle scoring notices
        a lost database."""
        if self._tick_round is None:
            wall = self.clock()
            await self.idle(fence)
            await repository.prune_history(self.engine, wall)
            self._tick_round = (wall, self._due(wall))
        wall, remaining = self._tick_round
        chunk, rest = remaining[:TICK_CHUNK], remaining[TICK_CHUNK:]
        self._tick_round = (wall, rest) if rest else None
        # Accounts of partitions given up since the round began are another instance's now.
        await self._tick([a for a in chunk if a in self.accounts], wall, fence)
        if rest:
            return True
        await self.relay_pending()
        return False

    async def idle(self, fence: OffsetMoves) -> None:
        """Judge the waiting accounts whose topics went idle since the last batch (a turn
        that brought no record, or the tick), stored with `fence`."""
        if not self.waiting:
            return
        if ready := {
            s.account_id: times for s, times in self.waiting.ready(self.accounts, self.clock())
        }:
            scorecard = self.scorecard.current

            def judge(state: AccountState) -> tuple[list[TriggerEvent], list[Point]]:
                return self._judge(state, scorecard, ready[state.account_id])

            # Their waiting days were taken off already: each is stored, changed or not.
            await self._store_visits(list(ready), judge, fence, store_all=True)
            self._gauge()

    def _due(self, wall: float) -> list[str]:
        """The accounts to visit in this round: those due, unless their partition's topics
        have not reached their next day yet (a backfill under way): those are held, without
        being decoded, and looked at again next round."""
        ready, held = [], []
        for account_id in dict.fromkeys([*self._held, *self.accounts.due(wall)]):
            entry = self.accounts.entries.get(account_id)
            if entry is None:  # another instance's now
                continue
            if entry.due <= self.watermarks.of(entry.partition, wall):
                ready.append(account_id)
            else:
                held.append(account_id)
        self._held = held
        return ready

    async def _tick(self, account_ids: list[str], wall: float, fence: OffsetMoves) -> None:
        scorecard = self.scorecard.current
        live_window = self.settings.live_window_seconds

        def visit(state: AccountState) -> tuple[list[TriggerEvent], list[Point]]:
            if state.waiting:  # the watermark's to judge, in order (_ready)
                return [], []
            watermark = self.watermarks.of(state.partition, wall)
            moved = tick_time(times_of(state), wall, live_window, watermark)
            if moved is None:  # filed under a day that has nothing for it any more
                return [], []
            state.advance(moved)
            fired = evaluate(state, state.now, card_of(state, scorecard))
            return fired, [point] if (point := chart(state, "tick", None)) else []

        await self._store_visits(account_ids, visit, fence)

    async def _store_visits(
        self,
        account_ids: list[str],
        visit: Callable[[AccountState], tuple[list[TriggerEvent], list[Point]]],
        fence: OffsetMoves,
        store_all: bool = False,
    ) -> None:
        """Evaluate accounts outside a batch (`visit`: the triggers fired and the history
        points charted), and store what changed (or all, with `store_all`) with `fence`."""
        scorecard = self.scorecard.current
        states = [self.accounts.borrow(a) for a in account_ids]
        dirty, fired, kept, points = [], [], [], []
        for state in states:
            before = _judged(state)
            try:
                fired_now, charted = visit(state)
            except Exception:  # one account's fault must not stop every account's tick
                log.exception("the tick could not evaluate account %s", state.account_id)
                self._put_back(state)
                continue
            points += charted
            fired += fired_now
            kept.append(state)
            if store_all or _judged(state) != before:
                dirty.append(state)
        rows, failed = self._rows(dirty, scorecard)
        unstored = {state.account_id for state, _ in failed}
        points = [p for p in points if p["account_id"] not in unstored]
        for state, _ in failed:
            self._put_back(state)
        self._packed(kept, rows, unstored)
        self.accounts.give_back(s for s in kept if s.account_id not in unstored)
        await self._write(rows, fired, fence, points=points)

    def _packed(
        self, visited: list[AccountState], rows: list[AccountRow], unstored: set[str]
    ) -> None:
        """Note what the visited accounts kept decoded are now, for a signal that fails next
        to put its account back to: the row's bytes, or for one not stored (the tick moved
        its clock and nothing it judges changed) its bytes packed now."""
        stored = {row["account_id"]: row["state"] for row in rows}
        for state in visited:
            account_id = state.account_id
            if account_id in self.accounts.hot and account_id not in unstored:
                self.accounts.packed(account_id, stored.get(account_id) or pack_account(state))

    def _put_back(self, state: AccountState) -> None:
        """Leave an account the tick failed on as it was before the tick, due again."""
        if state.account_id in self.accounts.hot:
            self.accounts.restore(state.account_id, state.partition)
        else:
            self.accounts.refile(state.account_id)


def _judged(state: AccountState) -> tuple[Any, ...]:
    """What a visit outside a batch may change that must be stored."""
    return state.health.get("score"), orjson.dumps(state.rules), tuple(state.waiting)
