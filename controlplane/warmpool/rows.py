"""Reading and changing `warm_pools` and `standby_hosts` rows, and their views."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from torpor.common.timestamps import utc_now

from ..db.models import StandbyHostRow, WarmPoolRow
from ..errors import NotFound
from .schemas import ACQUIRING, READY, RELEASING, PoolView, StandbyState, StandbyView

POOL_ID_PREFIX = "wp-"
STANDBY_ID_PREFIX = "sb-"


async def load_pool(session: AsyncSession, pool_id: str, *, lock: bool = False) -> WarmPoolRow:
    """NotFound (field `id`) for an unknown pool."""
    query = select(WarmPoolRow).where(WarmPoolRow.id == pool_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"no warm pool {pool_id}; see GET /api/v1/warmpool/hosts", field="id")
    return row


async def standbys(
    session: AsyncSession, *, pool_id: str | None = None, states: tuple[str, ...] = ()
) -> list[StandbyHostRow]:
    """Standby rows, oldest first, of one pool and/or in some states."""
    query = select(StandbyHostRow).order_by(StandbyHostRow.created_at, StandbyHostRow.id)
    if pool_id is not None:
        query = query.where(StandbyHostRow.pool_id == pool_id)
    if states:
        query = query.where(StandbyHostRow.state.in_(states))
    return list(await session.scalars(query))


async def mark_releasing(session: AsyncSession, row: StandbyHostRow) -> bool:
    """Moves a `ready` standby to `releasing` only if it is still ready in the database, so
    a claim committed since `row` was read is never overwritten (its host never released
    under a restoring instance). False when the row was claimed or ended meanwhile."""
    marked = await session.execute(
        update(StandbyHostRow)
        .where(StandbyHostRow.id == row.id, StandbyHostRow.state == READY)
        .values(state=RELEASING)
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        return False
    set_committed_value(row, "state", RELEASING)  # in step with the database, no second write
    return True


def new_pool(provider: str, gpu_type: str, gpu_count: int, region: str) -> WarmPoolRow:
    now = utc_now()
    return WarmPoolRow(
        id=POOL_ID_PREFIX + secrets.token_hex(6),
        provider=provider,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        region=region,
        target=0,
        enabled=True,
        max_idle_s=0,
        created_at=now,
        updated_at=now,
        team_id="",
        shared=True,
    )


def new_standby(pool: WarmPoolRow) -> StandbyHostRow:
    """Journalled before the provider is asked: its id is the acquire's request id."""
    return StandbyHostRow(
        id=STANDBY_ID_PREFIX + secrets.token_hex(8),
        pool_id=pool.id,
        provider=pool.provider,
        gpu_type=pool.gpu_type,
        gpu_count=pool.gpu_count,
        region=pool.region,
        state=ACQUIRING,
        price_per_hour_cents=0,
        prefetched=[],
        created_at=utc_now(),
        error="",
        details={},
    )


def end(row: StandbyHostRow, state: StandbyState, when: datetime | None = None) -> None:
    """The row stops being a standby (claimed or released): its cost interval closes."""
    row.state = state
    if row.ended_at is None:
        row.ended_at = when or utc_now()


def pool_view(row: WarmPoolRow) -> PoolView:
    return PoolView(
        id=row.id,
        provider=row.provider,
        gpu_type=row.gpu_type,
        gpu_count=row.gpu_count,
        region=row.region,
        target=row.target,
        enabled=row.enabled,
        max_idle_s=row.max_idle_s,
        created_at=row.created_at,
        updated_at=row.updated_at,
        team_id=row.team_id or None,
        shared=row.shared,
    )


def standby_view(row: StandbyHostRow) -> StandbyView:
    return StandbyView(
        id=row.id,
        pool_id=row.pool_id,
        state=row.state,  # type: ignore[arg-type]
        host_id=row.host_id,
        lease_id=row.lease_id,
        gpu_type=row.gpu_type,
        gpu_count=row.gpu_count,
        region=row.region,
        price_per_hour_cents=row.price_per_hour_cents,
        prefetched=list(row.prefetched or []),
        created_at=row.created_at,
        acquired_at=row.acquired_at,
        ended_at=row.ended_at,
        claimed_by_instance=row.claimed_by_instance,
        claimed_at=row.claimed_at,
        error=row.error,
    )
