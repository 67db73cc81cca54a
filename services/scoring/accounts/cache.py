"""Every account of the owned partitions, in memory, in one of two forms.

A decoded AccountState takes many times the memory of its packed bytes (packing.py),
so only the most recently used accounts stay decoded (at most `hot_limit`, which the processor
keeps within a batch too); the others are kept packed and decoded when an event touches them.
Loading a partition keeps its stored rows as they come from the database, without unpacking
them: the stored form and the packed form are one (packing.pack_account), which keeps
everything an account had in memory, so whether it was kept decoded, evicted or restarted
never changes what it does next.

The accounts keep one order, the order they were loaded or created in, whatever their form:
the tick visits them in it, as it always has.

A decoded account also keeps the bytes it was last packed to (none for one created since),
so a change that fails halfway can be undone: `restore` gives back the account as last packed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from services.scoring.accounts.packing import pack_account, packed_time, unpack_account
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.time import day_of


class Packed(NamedTuple):
    """An account kept packed, with what the tick must know without decoding it."""

    partition: int
    now: float  # the account's event time
    blob: bytes  # the account packed, as stored in accounts.state

    def unpack(self, account_id: str) -> AccountState:
        return unpack_account(account_id, self.partition, self.blob)


def packed_entry(state: AccountState) -> Packed:
    return Packed(state.partition, state.now, pack_account(state))


class AccountCache:
    """The owned partitions' accounts, decoded or packed (see the module docstring)."""

    def __init__(self, hot_limit: int) -> None:
        self.hot_limit = hot_limit
        self.entries: dict[str, AccountState | Packed] = {}
        self.hot: OrderedDict[str, None] = OrderedDict()  # the decoded, least recent first
        self.last_packed: dict[str, bytes | None] = {}  # of each decoded account

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
        self.entries[account_id] = Packed(partition, packed_time(blob), blob)
        self.hot.pop(account_id, None)
        self.last_packed.pop(account_id, None)

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
            self.entries[account_id] = (
                packed_entry(state) if blob is None else Packed(state.partition, state.now, blob)
            )

    def live(self, after: float, before: float) -> list[str]:
        """The accounts whose event time is in [after, before) and on an earlier day than
        `before`, in order: the ones the tick must evaluate. Within an account's day the
        passing of time changes nothing (every window is whole days, and health that events
        left stale was refreshed when their batch was stored), so a million accounts cost the
        tick a decode each once a day, not once a minute."""
        today = day_of(before)
        return [
            a for a, e in self.entries.items() if after <= e.now < before and day_of(e.now) < today
        ]

    def borrow(self, account_id: str) -> AccountState:
        """The account decoded, without making it recently used (the tick visits every live
        account, which says nothing about which will have events next); see give_back."""
        entry = self.entries[account_id]
        return entry if isinstance(entry, AccountState) else entry.unpack(account_id)

    def give_back(self, states: Iterable[AccountState]) -> None:
        """Pack again the borrowed states that were not decoded before."""
        for state in states:
            if state.account_id not in self.hot:
                self.entries[state.account_id] = packed_entry(state)

    def drop(self, partitions: set[int]) -> None:
        self.entries = {a: e for a, e in self.entries.items() if e.partition not in partitions}
        self.hot = OrderedDict((a, None) for a in self.hot if a in self.entries)
        self.last_packed = {a: b for a, b in self.last_packed.items() if a in self.entries}
