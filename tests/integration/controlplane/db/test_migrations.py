"""Migrations apply on both backends (inside the chosen PostgreSQL schema), idempotently,
and datetimes come back aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tests.support.databases import PostgresServer
from torpor.controlplane.db.engine import DatabaseUnreachable, create_engine, session_factory
from torpor.controlplane.db.migrate import alembic_config, upgrade_database
from torpor.controlplane.db.models import Base, EventRow

pytestmark = pytest.mark.integration
TABLES = set(Base.metadata.tables) | {"alembic_version"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_migrations_apply_and_reapply(database_url: str) -> None:
    await upgrade_database(database_url)
    await upgrade_database(database_url)  # a current database is left alone
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert names >= TABLES
    assert version == HEAD


async def test_postgres_tables_live_in_the_selected_schema(
    postgres_server: PostgresServer,
) -> None:
    schema, database_url = await postgres_server.create_schema_async()
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            )
    finally:
        await engine.dispose()
        await postgres_server.drop_schema_async(schema)
    assert found == len(TABLES)


async def test_datetimes_round_trip_as_aware_utc(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    local = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    try:
        async with sessions.begin() as session:
            session.add(EventRow(event_id="e", at=local, kind="k", severity="info", message=""))
        async with sessions() as session:
            row = await session.get(EventRow, 1)
    finally:
        await engine.dispose()
    assert row is not None
    assert row.at == local
    assert row.at.tzinfo is not None and row.at.utcoffset() == timedelta(0)
    assert row.at.hour == 12 and row.at.tzinfo == UTC


async def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(DatabaseUnreachable) as caught:
        await upgrade_database("postgresql+asyncpg://torpor:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(caught.value)
    assert "TORPOR_DATABASE_URL" in caught.value.hint()
