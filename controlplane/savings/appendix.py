"""Appending closed intervals that carry their own idempotency key: a second write of the
same key (a replayed standby report, a storage day accrued twice) is a no-op."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import LedgerRow


async def append_if_absent(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (key) DO NOTHING, on either backend."""
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        statement: Any = pg_insert(LedgerRow).on_conflict_do_nothing(index_elements=["key"])
    elif dialect == "sqlite":
        statement = sqlite_insert(LedgerRow).on_conflict_do_nothing(index_elements=["key"])
    else:
        statement = insert(LedgerRow)
    await session.execute(statement, rows)
