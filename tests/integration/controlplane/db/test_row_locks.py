"""A locking read (`with_for_update`) serializes read-modify-write on both backends.

PostgreSQL locks the row; SQLite ignored FOR UPDATE, and its driver began a transaction
only at the first write, so two locked increments both read the same value and one was
lost (db/sqlite_locks.py). Here the second increment must wait for the first to commit
and build on it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now
from torpor.controlplane.db.engine import create_engine, session_factory
from torpor.controlplane.db.migrate import upgrade_database
from torpor.controlplane.db.models import WarmPoolRow

pytestmark = pytest.mark.integration


async def _increment(
    sessions: async_sessionmaker[AsyncSession], hold_s: float, order: list[str], name: str
) -> None:
    async with sessions.begin() as session:
        row = await session.get(WarmPoolRow, "wp-1", with_for_update=True)
        assert row is not None
        await asyncio.sleep(hold_s)  # the other increment runs meanwhile
        row.target += 1
        order.append(name)


async def test_a_locked_increment_waits_for_the_other_and_builds_on_it(
    database_url: str,
) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        now = utc_now()
        async with sessions.begin() as session:
            session.add(
                WarmPoolRow(
                    id="wp-1", provider="paper", gpu_type="H100", gpu_count=1,
                    region="r", target=0, max_idle_s=0, created_at=now, updated_at=now, shared=True,
                )
            )  # fmt: skip
        order: list[str] = []
        first = asyncio.create_task(_increment(sessions, 0.5, order, "first"))
        await asyncio.sleep(0.1)  # the first holds its lock now
        await _increment(sessions, 0, order, "second")
        await first
        assert order == ["first", "second"]
        async with sessions() as session:
            row = await session.get(WarmPoolRow, "wp-1")
            assert row is not None and row.target == 2
    finally:
        await engine.dispose()
