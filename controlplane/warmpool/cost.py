"""Standby cost: the intervals during which hosts were kept warm, and what they cost.

A standby's interval runs from when its host was acquired to when it was claimed by an
instance (from then on it is that instance's host, paid as such) or released.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import StandbyHostRow
from ..savings.standby import record_standby
from .schemas import StandbyInterval


async def standby_intervals(
    session: AsyncSession, since: datetime, until: datetime, pool_id: str | None = None
) -> list[StandbyInterval]:
    """Every standby interval overlapping [since, until), clipped to it; a host still
    standing by counts up to `until`. Oldest first."""
    query = (
        select(StandbyHostRow)
        .where(
            StandbyHostRow.acquired_at.is_not(None),
            StandbyHostRow.acquired_at < until,
            or_(StandbyHostRow.ended_at.is_(None), StandbyHostRow.ended_at > since),
        )
        .order_by(StandbyHostRow.acquired_at, StandbyHostRow.id)
    )
    if pool_id is not None:
        query = query.where(StandbyHostRow.pool_id == pool_id)
    found: list[StandbyInterval] = []
    for row in await session.scalars(query):
        assert row.acquired_at is not None
        end = min(row.ended_at or until, until)
        found.append(
            StandbyInterval(
                pool_id=row.pool_id,
                gpu_type=row.gpu_type,
                region=row.region,
                host_id=row.host_id or "",
                started_at=max(row.acquired_at, since),
                ended_at=end,
                price_per_hour_cents=row.price_per_hour_cents,
            )
        )
    return found


async def charge_closed(session: AsyncSession, row: StandbyHostRow, ended_at: datetime) -> None:
    """Writes the standby's whole interval to the savings ledger, in the transaction that
    closes it (a claim or a release): never missed, and its key (host and start) makes a
    second close, or a replayed one, a no-op. A standby that never got a host cost nothing."""
    if row.acquired_at is None or not row.host_id:
        return
    await record_standby(
        session,
        host_id=row.host_id,
        pool_id=row.pool_id,
        gpu_type=row.gpu_type,
        region=row.region,
        price_per_hour_cents=row.price_per_hour_cents,
        started_at=row.acquired_at,
        ended_at=ended_at,
    )
