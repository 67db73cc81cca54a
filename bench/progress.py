"""How far scoring has come in a benchmark run: the one query on its stored offsets, and
counts of what it stored."""

from __future__ import annotations

import asyncpg

from harness.database import connect


class Progress:
    """Reads scoring's stored offsets: their sum over the signals topic's partitions is the
    number of signals whose effects are committed (offsets start at 0 on a fresh topic)."""

    def __init__(self, admin: str, database: str, group_id: str, topic: str) -> None:
        self.admin = admin
        self.database = database
        self.group_id = group_id
        self.topic = topic
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Progress:
        self._conn = await connect(self.admin, self.database)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def committed(self) -> int:
        assert self._conn is not None
        try:
            value = await self._conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                "WHERE group_id = $1 AND topic = $2",
                self.group_id,
                self.topic,
            )
        except asyncpg.UndefinedTableError:
            return 0  # the service has not run its migrations yet
        return int(value)

    async def scalar(self, query: str) -> int:
        assert self._conn is not None
        return int(await self._conn.fetchval(query) or 0)
