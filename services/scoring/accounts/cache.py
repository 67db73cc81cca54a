"""Every account of the owned partitions, in memory, in one of two forms.

A decoded AccountState takes many times the memory of its packed bytes (packing.py),
so only the most recently used accounts stay decoded (at most `hot_limit`, which the processor
keeps within a batch too); the others are kept packed and decoded when an event touches them.
Loading a partition keeps its stored rows as they come from the database, without unpacking
them: the stored form and the packed form are one (packing.pack_account), which keeps
everything an account had in memory, so whether it was kept decoded, evicted or restarted
never changes what it does next.

The tick finds the accounts it must visit without looking at the others: each account is
filed under the day it is next due (ticking.next_tick, always a midnight), worked out from
its times when it is loaded, packed or changed. A day's list may hold accounts whose due time
has moved since; they are skipped when the day comes.

A decoded account also keeps the bytes it was last packed to (none for one created since),
so a change that fails halfway can be undone: `restore` gives back the account as last packed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from services.scoring.accounts.packing import (
    pack_account,
    packed_time,
    packed_times,
    times_of,
    unpack_account,
)
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.ticking import NEVER, next_tick
from services.scoring.accounts.time import DAY, day_of


class Packed(NamedTuple):
    """An account kept packed, with what the tick must know without decoding it."""

    partition: int
    due: float  # when the tick is next due (ticking.next_tick)
    blob: bytes  # the account packed, as stored in accounts.state

    def unpack(self, account_id: str) -> AccountState:
        state = unpack_account(account_id, self.partition, self.blob)
        state.due = self.due
        return state


class AccountCache:
    """The owned partitions' accounts, decoded or packed (see the module docstring)."""

    def __init__(self, hot_limit: int, live_window: float = DAY) -> None:
        self.hot_limit = hot_limit
        self.live_window = live_window
        self.entries: dict[str, AccountState | Packed] = {}
        self.hot: OrderedDict[str, None] = OrderedDict()  # the decoded, least recent first
        self.last_packed: dict[str, bytes | None] = {}  # of each decoded account
        self.due_on: dict[int, list[str]] = {}  # day -> accounts due at its midnight
        self.loaded_waiting: list[str] = []  # loaded with days waiting for the rules

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self.entries

    @property
    def overfull(self) -> bool:
        """More accounts decoded than the limit: a batch touching many accounts."""
        return len(self.hot) > self.hot_limit

    def load(self, account_id: str, partition: int, blob: bytes) -> None:
        """Keep a stored accounts.state as it is."""
        times = packed_times(blob)
        # A blob from before the header held its times: due when its clock's day is over,
        # when the tick reads it and learns the rest.
        due = (
            (day_of(packed_time(blob)) + 1) * DAY
            if times is None
            else next_tick(times, self.live_window)
        )
        self.entries[account_id] = Packed(partition, due, blob)
        self._file(account_id, due)
        if times is not None and times.waiting:
            self.loaded_waiting.append(account_id)
        self.hot.pop(account_id, None)
        self.last_packed.pop(account_id, None)

    def schedule(self, state: AccountState) -> None:
        """File a decoded account under the day it is next due, after a change."""
        due = next_tick(times_of(state), self.live_window)
        if due != state.due:
            state.due = due
            self._file(state.account_id, due)

    def refile(self, account_id: str) -> None:
        """File an account under its due day again (a visit that failed)."""
        self._file(account_id, self.entries[account_id].due)

    def _file(self, account_id: str, due: float) -> None:
        if due != NEVER:
            self.due_on.setdefault(day_of(due), []).append(account_id)

    def due(self, wall: float) -> list[str]:
        """The accounts the tick must visit at `wall`, each once, taken off their days."""
        found: dict[str, None] = {}
        for day in sorted(d for d in self.due_on if d <= day_of(wall)):
            for account_id in self.due_on.pop(day):
                entry = self.entries.get(account_id)
                if entry is not None and entry.due <= wall and day_of(entry.due) == day:
                    found[account_id] = None
        return list(found)

    def touch(self, account_id: str, partition: int) -> AccountState:
        """The account decoded (created if new), now the most recently used."""
        entry = self.entries.get(account_id)
        if isinstance(entry, AccountState):
            self.hot.move_to_end(account_id)
            return entry
        state = AccountState(account_id, partition) if entry is None else entry.unpack(account_id)
        self.entries[account_id] = state
        self.hot[account_id] = None
        self.last_packed[account_id] = None if entry is None else entry.blob
        return state

    def packed(self, account_id: str, blob: bytes) -> None:
        """A decoded account was just packed to `blob` (its row was built): the state a
        restore goes back to."""
        self.last_packed[account_id] = blob

    def restore(self, account_id: str, partition: int) -> AccountState:
        """A decoded account as it was last packed (blank if it never was), still decoded."""
        blob = self.last_packed.get(account_id)
        state = (
            AccountState(account_id, partition)
            if blob is None
            else (unpack_account(account_id, partition, blob))
        )
        self.entries[account_id] = state
        self.schedule(state)
        return state

    def evict(self, keep: int | None = None, fresh: Mapping[str, bytes] | None = None) -> None:
        """Pack the least recently used beyond `keep` (the hot limit if not given). `fresh`:
        accounts packed since they last changed (their rows were just built), whose bytes
        need not be packed again."""
        keep = self.hot_limit if keep is None else keep
        fresh = fresh or {}
        while len(self.hot) > keep:
            account_id, _ = self.hot.popitem(last=False)
            self.last_packed.pop(account_id, None)
            state = self.entries[account_id]
            assert isinstance(state, AccountState)
            blob = fresh.get(account_id)
            self.entries[account_id] = Packed(
                state.partition, state.due, pack_account(state) if blob is None else blob
            )

    def borrow(self, account_id: str) -> AccountState:
        """The account decoded, without making it recently used (the tick visits every live
        account, which says nothing about which will have events next); see give_back."""
        entry = self.entries[account_id]
        return entry if isinstance(entry, AccountState) else entry.unpack(account_id)

    def give_back(self, states: Iterable[AccountState]) -> None:
        """Pack again the borrowed states that were not decoded before, and file every one
        under its next day due."""
        for state in states:
            self.schedule(state)
            if state.account_id not in self.hot:
                self.entries[state.account_id] = Packed(
                    state.partition, state.due, pack_account(state)
                )

    def drop(self, partitions: set[int]) -> None:
        self.entries = {a: e for a, e in self.entries.items() if e.partition not in partitions}
        self.hot = OrderedDict((a, None) for a in self.hot if a in self.entries)
        self.last_packed = {a: b for a, b in self.last_packed.items() if a in self.entries}
