"""`StandbyClaims` over the warm pools: hand a ready standby to an instance, atomically.

A claim is one conditional UPDATE (`state = ready` → `claimed`) per candidate, so two
concurrent claims can never take the same host on SQLite or PostgreSQL: the loser sees
no row changed and tries the next candidate. A host is never handed out when it is the
host the instance is leaving (`avoid_host_id`), when an instance runs on it, when the
fleet knows it as disconnected, or when it is being drained, and only from a pool that
serves the instance's team: its team's own pool, or a shared one (design.md "Warm pools",
tenant isolation). Candidates that already prefetched the instance's latest snapshot come
first, then the team's own pool before a shared one. The claim's request id is stored,
so a retried wake gets the same standby back. The claim charges the standby's interval
to the savings ledger in its own transaction (cost.py). `peek` answers, claiming
nothing, which standby a claim would take.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import HOST_DISCONNECTED, HostRow, InstanceRow, StandbyHostRow, WarmPoolRow
from ..fleet.draining import draining_ids
from ..instances.providers import Providers
from ..instances.repositories import REPOSITORY_KEY, repository_url
from ..instances.standbys import WarmTarget
from ..instances.states import InstanceState
from ..providers.base import HostSpec, Lease, Offer
from .cost import charge_closed
from .schemas import CLAIMED, READY

log = logging.getLogger(__name__)
HOSTLESS_STATES = (InstanceState.HIBERNATED.value, InstanceState.DELETED.value)


class PoolClaims:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: Providers,
        on_claim: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self._on_claim = on_claim

    async def claim(
        self,
        spec: HostSpec,
        *,
        request_id: str,
        avoid_host_id: str | None = None,
        any_region: bool = False,
    ) -> Lease | None:
        async with self._sessions.begin() as session:
            row = await self._already(session, request_id)
            if row is None:
                for candidate in await self._candidates(session, spec, avoid_host_id, any_region):
                    if await self._take(session, candidate, spec, request_id):
                        row = candidate
                        break
        if row is None:
            return None
        if self._on_claim is not None:
            self._on_claim()  # the pool is short now: replace the standby soon
        log.info("standby %s (host %s) claimed by %s", row.id, row.host_id, spec.instance_id)
        return self._lease_of(row, spec.instance_id)

    async def peek(
        self, spec: HostSpec, *, avoid_host_id: str | None = None, any_region: bool = False
    ) -> WarmTarget | None:
        """The standby a claim would take now, left where it is (failover readiness)."""
        async with self._sessions() as session:
            found = await self._candidates(session, spec, avoid_host_id, any_region)
            latest = await self._latest(session, spec.instance_id)
        if not found:
            return None
        best = found[0]
        assert best.host_id is not None
        held = latest is not None and latest in (best.prefetched or [])
        return WarmTarget(best.id, best.pool_id, best.host_id, best.region, held)

    async def _already(self, session: AsyncSession, request_id: str) -> StandbyHostRow | None:
        if not request_id:
            return None
        return await session.scalar(
            select(StandbyHostRow).where(StandbyHostRow.claim_request_id == request_id)
        )

    async def _candidates(
        self, session: AsyncSession, spec: HostSpec, avoid: str | None, any_region: bool
    ) -> list[StandbyHostRow]:
        busy = select(InstanceRow.host_id).where(
            InstanceRow.host_id.is_not(None), InstanceRow.state.not_in(HOSTLESS_STATES)
        )
        lost = select(HostRow.id).where(HostRow.state == HOST_DISCONNECTED)
        query = select(StandbyHostRow).where(
            StandbyHostRow.pool_id.in_(list(await _serving(session, spec.instance_id))),
            StandbyHostRow.state == READY,
            StandbyHostRow.gpu_type == spec.gpu_type,
            StandbyHostRow.gpu_count == spec.gpu_count,
            StandbyHostRow.host_id.is_not(None),
            StandbyHostRow.host_id.not_in(busy),
            StandbyHostRow.host_id.not_in(lost),
            StandbyHostRow.host_id.not_in(draining_ids()),
        )
        if avoid:
            query = query.where(StandbyHostRow.host_id != avoid)
        if not any_region:
            query = query.where(StandbyHostRow.region == spec.region)
        found = list(await session.scalars(query.order_by(StandbyHostRow.acquired_at)))
        latest = await self._latest(session, spec.instance_id)
        own = await _serving(session, spec.instance_id, shared=False)
        found.sort(
            key=lambda r: (
                latest not in (r.prefetched or []),
                r.region != spec.region,
                r.pool_id not in own,  # the team's own pool before a shared one
            )
        )
        return found

    async def _latest(self, session: AsyncSession, instance_id: str) -> str | None:
        return await session.scalar(
            select(InstanceRow.latest_snapshot_id).where(InstanceRow.id == instance_id)
        )

    async def _take(
        self, session: AsyncSession, row: StandbyHostRow, spec: HostSpec, request_id: str
    ) -> bool:
        now = utc_now()
        taken = await session.execute(
            update(StandbyHostRow)
            .where(StandbyHostRow.id == row.id, StandbyHostRow.state == READY)
            .values(
                state=CLAIMED,
                claimed_by_instance=spec.instance_id or None,
                claim_request_id=request_id or None,
                claimed_at=now,
                ended_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            return False
        await charge_closed(session, row, now)
        return True

    def _lease_of(self, row: StandbyHostRow, instance_id: str) -> Lease:
        """The provider's facts about the host as its acquire gave them (workspace,
        config, log: the shape of an acquired host's lease), the instance's repository
        instead of the standby's own, and which standby of which pool it was."""
        assert row.host_id is not None and row.lease_id is not None
        provider = self._providers.get(row.provider)
        offer = Offer(
            row.provider, row.gpu_type, row.gpu_count, row.region, row.price_per_hour_cents
        )
        details = {str(k): str(v) for k, v in (row.details or {}).items()}
        details |= {"standby": row.id, "pool": row.pool_id}
        repository = repository_url(provider, instance_id) if instance_id else ""
        if repository:
            details[REPOSITORY_KEY] = repository
        return Lease(row.provider, row.lease_id, row.host_id, offer, details)


async def _serving(session: AsyncSession, instance_id: str, *, shared: bool = True) -> set[str]:
    """The pools whose standbys the instance may be handed: its team's own, and (unless
    `shared` is False) the shared ones. A host of another team's pool holds that team's
    data (its cache), so it is never handed across teams."""
    team = await session.scalar(select(InstanceRow.team_id).where(InstanceRow.id == instance_id))
    owners = [WarmPoolRow.team_id == team] if team else []
    if shared:
        owners.append(WarmPoolRow.shared.is_(True))
    if not owners:
        return set()
    return set(await session.scalars(select(WarmPoolRow.id).where(or_(*owners))))
