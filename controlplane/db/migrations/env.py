"""Alembic environment: runs on the connection `migrate.py` hands over (async engine, sync
shim), so the same code path serves SQLite and PostgreSQL and no alembic.ini is needed."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
target_metadata = config.attributes.get("target_metadata")

if connection is None:
    raise RuntimeError("run migrations through torpor.controlplane.db.migrate.upgrade_database")

context.configure(connection=connection, target_metadata=target_metadata)
with context.begin_transaction():
    context.run_migrations()
