"""The operators' warm-pool service: provision, enable, disable, list, status, cleanup.

Thin over the rows and the reconciler: a change to a pool nudges the reconciler, which
does the acquiring and releasing (the HTTP request never waits on a provider), except
`cleanup`, which releases the pool's hosts before it deletes the pool.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import InstanceRow, StandbyHostRow, TeamRow, WarmPoolRow
from ..errors import Conflict, InvalidArgument
from ..instances.providers import Providers, choose
from ..instances.states import InstanceState
from ..providers.base import HostSpec
from . import rows
from .cost import standby_intervals
from .reconciler import Reconciler
from .schemas import (
    ACQUIRING,
    CLAIMED,
    READY,
    RELEASING,
    PoolRequest,
    PoolStatus,
    PoolView,
    StandbyView,
)


class WarmPoolService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: Providers,
        reconciler: Reconciler,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self.reconciler = reconciler

    async def provision(self, request: PoolRequest) -> tuple[PoolView, bool]:
        """Creates the pool for (provider, GPU type, count, region, team or shared) or
        updates its target and idle limit; True when created. InvalidArgument naming the
        field no offer has, or `team_id` for a team that does not exist."""
        spec = HostSpec(request.gpu_type, request.gpu_count, request.region)
        provider = await choose(self._providers, spec, None)
        team_id = "" if request.shared else request.team_id or ""
        async with self._sessions.begin() as session:
            if team_id and await session.get(TeamRow, team_id) is None:
                raise InvalidArgument(
                    f"team_id: no team {team_id}; see GET /api/v1/teams", field="team_id"
                )
            pool = await session.scalar(
                select(WarmPoolRow)
                .where(
                    WarmPoolRow.provider == provider,
                    WarmPoolRow.gpu_type == spec.gpu_type,
                    WarmPoolRow.gpu_count == spec.gpu_count,
                    WarmPoolRow.region == spec.region,
                    WarmPoolRow.team_id == team_id,
                )
                .with_for_update()
            )
            created = pool is None
            if pool is None:
                pool = rows.new_pool(provider, spec.gpu_type, spec.gpu_count, spec.region)
                pool.team_id, pool.shared = team_id, not team_id
                session.add(pool)
            pool.target, pool.max_idle_s = request.target, request.max_idle_s
            pool.updated_at = utc_now()
        self.reconciler.nudge()
        return rows.pool_view(pool), created

    async def set_enabled(self, pool_id: str, enabled: bool) -> PoolView:
        async with self._sessions.begin() as session:
            pool = await rows.load_pool(session, pool_id, lock=True)
            pool.enabled, pool.updated_at = enabled, utc_now()
        self.reconciler.nudge()
        return rows.pool_view(pool)

    async def hosts(self, pool_id: str | None = None) -> list[StandbyView]:
        """Every standby the pools hold or are getting or giving back (not the past ones)."""
        async with self._sessions() as session:
            if pool_id is not None:
                await rows.load_pool(session, pool_id)
            found = await rows.standbys(
                session, pool_id=pool_id, states=(ACQUIRING, READY, RELEASING)
            )
            return [rows.standby_view(row) for row in found]

    async def status(self, pool_id: str, now: datetime | None = None) -> PoolStatus:
        now = now or utc_now()
        async with self._sessions() as session:
            pool = await rows.load_pool(session, pool_id)
            every = await rows.standbys(session, pool_id=pool_id)
            intervals = await standby_intervals(session, pool.created_at, now, pool_id)
        count = {state: sum(1 for r in every if r.state == state) for state in _COUNTED}
        return PoolStatus(
            pool=rows.pool_view(pool),
            ready=count[READY],
            acquiring=count[ACQUIRING],
            releasing=count[RELEASING],
            claimed=count[CLAIMED],
            standby_seconds=sum((i.ended_at - i.started_at).total_seconds() for i in intervals),
            cost_cents=round(sum(i.cost_cents for i in intervals), 4),
        )

    async def statuses(self, now: datetime | None = None) -> list[PoolStatus]:
        """Every pool's status, oldest pool first (`GET /warmpool/pools`, `torporctl warmpool`)."""
        async with self._sessions() as session:
            ids = list(
                await session.scalars(select(WarmPoolRow.id).order_by(WarmPoolRow.created_at))
            )
        return [await self.status(pool_id, now) for pool_id in ids]

    async def cleanup(self, pool_id: str) -> None:
        """Releases the pool's standbys and deletes the pool. Conflict while a host is
        mid-claim (being acquired, or claimed by an instance still waking onto it)."""
        async with self._sessions.begin() as session:
            pool = await rows.load_pool(session, pool_id, lock=True)
            await self._refuse_mid_claim(session, pool_id)
            pool.enabled, pool.target = False, 0
            for row in await rows.standbys(session, pool_id=pool_id, states=(READY,)):
                await rows.mark_releasing(session, row)  # a claim meanwhile keeps its host
        for row_id in await self._releasing(pool_id):
            await self.reconciler.release(row_id)
        async with self._sessions.begin() as session:
            pool = await rows.load_pool(session, pool_id, lock=True)
            await session.delete(pool)

    async def _refuse_mid_claim(self, session: AsyncSession, pool_id: str) -> None:
        acquiring = await rows.standbys(session, pool_id=pool_id, states=(ACQUIRING,))
        if acquiring:
            raise Conflict(
                f"standby {acquiring[0].id} of pool {pool_id} is being acquired: retry once"
                " it is ready (GET /api/v1/warmpool/hosts), or disable the pool first",
                field="id",
            )
        waking = await session.scalar(
            select(StandbyHostRow.id)
            .join(InstanceRow, InstanceRow.id == StandbyHostRow.claimed_by_instance)
            .where(
                StandbyHostRow.pool_id == pool_id,
                StandbyHostRow.state == CLAIMED,
                InstanceRow.state == InstanceState.WAKING.value,
            )
            .limit(1)
        )
        if waking is not None:
            raise Conflict(
                f"standby {waking} of pool {pool_id} is mid-claim: an instance is waking onto"
                " it; retry once the wake is done",
                field="id",
            )

    async def _releasing(self, pool_id: str) -> list[str]:
        async with self._sessions() as session:
            found = await rows.standbys(session, pool_id=pool_id, states=(RELEASING,))
            return [row.id for row in found]


_COUNTED = (READY, ACQUIRING, RELEASING, CLAIMED)
