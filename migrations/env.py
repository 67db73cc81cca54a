"""Alembic environment: always handed a live connection by migrations.migrate."""

from alembic import context

from migrations import schema

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=schema())
with context.begin_transaction():
    context.run_migrations()
