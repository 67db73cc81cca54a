"""Schema migrations with Alembic, run by `pulse migrate` and by every service at start-up.

Migrations know every service's tables (that is their job), so they live here rather than in
shared/ or in one service. Each revision in versions/ is self-contained: it imports no live
code, so an old migration means the same thing whatever today's code does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import is_postgres

MIGRATIONS = Path(__file__).parent
# Any constant will do: it only serializes concurrent start-ups on one PostgreSQL database.
_LOCK_ID = 7_220_415


def schema() -> list[MetaData]:
    """Every table the services own, as the migrations create them (for autogenerate, and
    for tests that empty the database)."""
    from services.alerts.tables import metadata as alerts
    from services.scoring.tables import metadata as scoring
    from shared.db.tables import metadata as offsets

    return [offsets, scoring, alerts]


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, run on an open connection (the caller's transaction)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if is_postgres(engine):
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        await connection.run_sync(_upgrade)
