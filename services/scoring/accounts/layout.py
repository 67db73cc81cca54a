"""Which partition of the signals topic each stored account belongs to, and the partition
count that decides it.

An account's row keeps the partition its key hashes to (accounts.partition), and an instance
loads the accounts of the partitions it is assigned. Under another partition count a key
hashes elsewhere: the new owner would not find the account, would start it blank, and would
store that over its history. So scoring records the count its accounts are stored under
(accounts_layout) and refuses to consume under another. `pulse accounts repartition`, run while
scoring is stopped, moves every account to its partition under the topic's count now and
records that count (docs/operations.md, "The signals topic's partition count changed").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.accounts import repository
from shared.errors import PartitionsChanged
from shared.kafka import partition_of

log = logging.getLogger(__name__)

# Accounts checked when no count is recorded yet (a database from before the layout was
# recorded): under a count that changed since, most accounts sit in another partition.
SAMPLE = 1000
PROCEDURE = (
    "Stop every scoring instance, run `pulse accounts repartition`, then start scoring again "
    '(docs/operations.md, "The signals topic\'s partition count changed").'
)


def account_partition(account_id: str, partitions: int) -> int:
    """The partition the producers (ingest, the API) send an account's signals to."""
    return partition_of(account_id.encode(), partitions)


class Misrouted(Exception):
    """A signal for an account this partition does not own under the recorded count."""


class PartitionLayout:
    """The recorded count, checked against the topic's at start-up and on every assignment.
    `current` is the topic's partition count as the consumer sees it."""

    def __init__(self, engine: AsyncEngine, topic: str, current: Callable[[], int]) -> None:
        self.engine = engine
        self.topic = topic
        self.current = current
        self.partitions: int | None = None  # the count checked last

    async def assigned(self, partitions: Iterable[int]) -> None:
        """Check before the partitions' accounts are loaded."""
        await self.check(max(self.current(), max(partitions, default=-1) + 1))

    async def check(self, current: int) -> None:
        """Raise PartitionsChanged unless the accounts are stored under `current`."""
        recorded = await repository.recorded_partitions(self.engine)
        if recorded is None:
            await self._check_stored_accounts(current)
            recorded = await repository.record_first_partitions(self.engine, current)
        if recorded != current:
            _refuse(
                f"{self.topic} has {current} partitions, but the accounts are stored under "
                f"{recorded}: an account's signals now reach another partition, whose consumer "
                "would start it blank and store that over its history. Scoring does not "
                f"consume under a changed partition count. {PROCEDURE}"
            )
        self.partitions = current

    async def _check_stored_accounts(self, current: int) -> None:
        sample = await repository.some_accounts(self.engine, SAMPLE)
        elsewhere = [a for a, p in sample if account_partition(a, current) != p]
        if elsewhere:
            _refuse(
                f"{len(elsewhere)} of {len(sample)} stored accounts checked (e.g. "
                f"{elsewhere[0]!r}) are not stored in their partition of the {current} of "
                f"{self.topic}: the partition count changed before it was recorded. {PROCEDURE}"
            )

    def check_owned(self, account_id: str, partition: int) -> None:
        """For an account not loaded: raise Misrouted unless its signals belong here. A signal
        sent by a producer that routed by another count would otherwise start it blank."""
        if self.partitions is None:
            return
        owner = account_partition(account_id, self.partitions)
        if owner != partition:
            raise Misrouted(
                f"account {account_id!r} belongs to partition {owner} of {self.partitions}, "
                f"not {partition}: a producer routed it by another partition count"
            )


def _refuse(reason: str) -> NoReturn:
    log.error("scoring: %s", reason)
    raise PartitionsChanged(reason)


@dataclass(frozen=True)
class Repartitioned:
    accounts: int
    moved: int
    before: int | None  # the count recorded before, if any
    partitions: int


async def repartition(engine: AsyncEngine, partitions: int) -> Repartitioned:
    """Move every stored account to its partition under `partitions` and record that count."""
    before = await repository.recorded_partitions(engine)
    accounts, moved = await repository.move_accounts(
        engine, lambda account_id: account_partition(account_id, partitions), partitions
    )
    log.info("accounts: %d of %d moved to their partition of %d", moved, accounts, partitions)
    return Repartitioned(accounts, moved, before, partitions)
