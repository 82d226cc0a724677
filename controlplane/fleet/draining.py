"""Which hosts may take new placements: every one that is not being drained.

The code that places instances (the warm pool's claim, failover's choice of a host)
filters its host query with `placeable` or asks `is_draining`; `operators/drain.py`
writes the rows."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import HostDrainRow, HostRow

Q = TypeVar("Q", bound=Select)  # type: ignore[type-arg]


def placeable(query: Q) -> Q:
    """`query` over `hosts` without the hosts being drained."""
    return query.where(HostRow.id.not_in(draining_ids()))


async def is_draining(session: AsyncSession, host_id: str) -> bool:
    return await session.get(HostDrainRow, host_id) is not None


async def drains_of(session: AsyncSession, host_ids: list[str]) -> dict[str, HostDrainRow]:
    """The drain rows of those of `host_ids` being drained."""
    if not host_ids:
        return {}
    rows = await session.scalars(select(HostDrainRow).where(HostDrainRow.host_id.in_(host_ids)))
    return {row.host_id: row for row in rows}


def draining_ids() -> Select:  # type: ignore[type-arg]
    """The ids of the hosts being drained, as a subquery for `column.not_in(...)`."""
    return select(HostDrainRow.host_id)
