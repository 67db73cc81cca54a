"""Bulk writes for the hot path.

On PostgreSQL a batch of rows goes as one statement of arrays (INSERT ... SELECT FROM unnest
... ON CONFLICT), one round trip whatever the batch size; elsewhere (SQLite) SQLAlchemy's
executemany does the same job more slowly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.engine import is_postgres


def insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's own INSERT, which knows ON CONFLICT."""
    return postgresql.insert(table) if is_postgres(conn) else sqlite.insert(table)


def _pg_type(column: Any) -> str:
    kind = column.type
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, LargeBinary):
        return "bytea"
    if isinstance(kind, DateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "bool"
    return "text"


async def upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, replacing those whose primary key exists. Every row has the same keys."""
    if not rows:
        return
    names = list(rows[0])
    keys = [c.name for c in table.primary_key.columns]
    if is_postgres(conn):
        arrays = ", ".join(f"${i}::{_pg_type(table.c[name])}[]" for i, name in enumerate(names, 1))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in keys)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
        # Through SQLAlchemy, not the raw driver: it begins the transaction this must be in.
        await conn.exec_driver_sql(sql, tuple([row[n] for row in rows] for n in names))
        return
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={n: stmt.excluded[n] for n in names if n not in keys}
    )
    await conn.execute(stmt, rows)


async def append(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (an append-only table's, keys left to the database). Every row has the
    same keys."""
    if not rows:
        return
    names = list(rows[0])
    if is_postgres(conn):
        arrays = ", ".join(f"${i}::{_pg_type(table.c[name])}[]" for i, name in enumerate(names, 1))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"
        await conn.exec_driver_sql(sql, tuple([row[n] for row in rows] for n in names))
        return
    await conn.execute(table.insert(), rows)
