"""The warm-pool reconciler: one loop keeping every pool at its target.

Each pass (`tick`, testable on its own) first *plans* in one transaction per pool, then
*acts*: standbys to acquire are journalled as `acquiring` rows before the provider is
asked, with the row id as the provider's request id, so a crash between the two makes
the next pass ask for the same host again instead of leaking one; standbys to give back
are marked `releasing` before the provider releases them. Hosts are released when the
pool is disabled, holds more than its target, a standby sat unclaimed past
`max_idle_s`, or its host is disconnected or being drained (a replacement is acquired
on the same pass); releasing one charges its interval to the savings ledger. Ready
standbys are then told to prefetch the latest snapshots of the instances they may serve
(prefetch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import HOST_DISCONNECTED, HostRow, StandbyHostRow, WarmPoolRow
from ..errors import TorporError
from ..fleet.draining import drains_of
from ..instances.providers import Providers
from ..providers.base import HostSpec
from . import rows
from .cost import charge_closed
from .prefetch import Prefetcher
from .schemas import ACQUIRING, READY, RELEASED, RELEASING

log = logging.getLogger(__name__)
TICK_S = 15.0


@dataclass(frozen=True)
class PassReport:
    """What one pass did (for tests and the log)."""

    acquired: list[str]
    released: list[str]
    failed: list[str]


class Reconciler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: Providers,
        prefetcher: Prefetcher,
        tick_s: float = TICK_S,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self.prefetcher = prefetcher
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="torpor-warm-pools")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.prefetcher.close()

    def nudge(self) -> None:
        """Runs a pass soon (a standby was claimed, a pool changed)."""
        self._wake.set()

    async def _forever(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: wait_for (3.11) loses a stop()'s cancel that
            # arrives as a nudge sets the event, and stop() would then wait forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("warm-pool pass failed; retrying at the next tick")

    async def tick(self, now: datetime | None = None) -> PassReport:
        """One pass over every pool: plan, acquire, release, prefetch."""
        async with self._lock:
            await self.plan(now or utc_now())
            report = PassReport([], [], [])
            async with self._sessions() as session:
                todo = await rows.standbys(session, states=(ACQUIRING, RELEASING))
            for row in todo:
                if row.state == ACQUIRING:
                    ok = await self._acquire(row)
                    (report.acquired if ok else report.failed).append(row.id)
                else:
                    await self.release(row.id)
                    report.released.append(row.id)
            await self.prefetcher.refresh()
            return report

    # --- planning -----------------------------------------------------------------------

    async def plan(self, now: datetime) -> None:
        """Journals what the pools need: `acquiring` rows for a shortfall, `releasing` for
        hosts to give back (one transaction per pool)."""
        async with self._sessions() as session:
            pool_ids = list(await session.scalars(select(WarmPoolRow.id)))
        for pool_id in pool_ids:
            async with self._sessions.begin() as session:
                pool = await session.get(WarmPoolRow, pool_id, with_for_update=True)
                if pool is not None:
                    await self._plan_pool(session, pool, now)

    async def _plan_pool(self, session: AsyncSession, pool: WarmPoolRow, now: datetime) -> None:
        live = await rows.standbys(session, pool_id=pool.id, states=(ACQUIRING, READY))
        held = [r.host_id for r in live if r.host_id]
        lost = await _disconnected(session, held) | set(await drains_of(session, held))
        keep: list[StandbyHostRow] = []
        for row in live:
            if row.state == READY and (
                not pool.enabled or _idle_too_long(row, pool, now) or row.host_id in lost
            ):
                await rows.mark_releasing(session, row)  # lost to a claim meanwhile: left
            else:
                keep.append(row)
        target = pool.target if pool.enabled else 0
        ready = [r for r in keep if r.state == READY]
        for row in ready[: max(0, len(keep) - target)]:  # oldest first
            await rows.mark_releasing(session, row)
        for _ in range(max(0, target - len(keep))):
            session.add(rows.new_standby(pool))

    # --- acting -------------------------------------------------------------------------

    async def _acquire(self, row: StandbyHostRow) -> bool:
        spec = HostSpec(row.gpu_type, row.gpu_count, row.region, instance_id="")
        try:
            provider = self._providers.get(row.provider)
            placement = await provider.acquire(spec, request_id=row.id)
        except TorporError as err:
            log.warning("warm pool %s: no standby host: %s", row.pool_id, err.message)
            async with self._sessions.begin() as session:
                failed = await session.get(StandbyHostRow, row.id, with_for_update=True)
                if failed is not None and failed.state == ACQUIRING:
                    failed.error = err.message
                    rows.end(failed, RELEASED)
            return False
        async with self._sessions.begin() as session:
            ready = await session.get(StandbyHostRow, row.id, with_for_update=True)
            if ready is None or ready.state != ACQUIRING:
                return False
            ready.host_id, ready.lease_id = placement.host_id, placement.lease_id
            ready.price_per_hour_cents = placement.offer.price_per_hour_cents
            ready.details = dict(placement.details)  # its claim's placement gets them too
            ready.acquired_at = ready.acquired_at or utc_now()
            ready.state = READY
        log.info(
            "warm pool %s: standby %s ready on host %s", row.pool_id, row.id, placement.host_id
        )
        return True

    async def release(self, standby_id: str) -> None:
        """Gives a standby's host back to its provider (marked `releasing` first, so a
        crash part way is finished by the next pass)."""
        async with self._sessions.begin() as session:
            row = await session.get(StandbyHostRow, standby_id, with_for_update=True)
            if row is None or row.state not in (READY, RELEASING):
                return
            row.state = RELEASING
            provider_name, lease_id, host_id = row.provider, row.lease_id, row.host_id
        if lease_id:
            await self._providers.release(provider_name, lease_id, host_id)
        async with self._sessions.begin() as session:
            row = await session.get(StandbyHostRow, standby_id, with_for_update=True)
            if row is not None and row.state == RELEASING:
                rows.end(row, RELEASED)
                assert row.ended_at is not None
                await charge_closed(session, row, row.ended_at)
        log.info("standby %s released (lease %s)", standby_id, lease_id)


def _idle_too_long(row: StandbyHostRow, pool: WarmPoolRow, now: datetime) -> bool:
    if pool.max_idle_s <= 0 or row.acquired_at is None:
        return False
    return now - row.acquired_at >= timedelta(seconds=pool.max_idle_s)


async def _disconnected(session: AsyncSession, host_ids: list[str]) -> set[str]:
    """Hosts known to the fleet and disconnected (their standby is of no use)."""
    if not host_ids:
        return set()
    found = await session.scalars(
        select(HostRow.id).where(HostRow.id.in_(host_ids), HostRow.state == HOST_DISCONNECTED)
    )
    return set(found)
