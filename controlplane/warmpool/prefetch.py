"""Prefetch orders for ready standbys: the latest snapshot of every instance a standby may
serve (running or hibernated, same GPU type, count and region) goes into its chunk cache,
so a wake or failover onto it downloads only what changed since.

A standby may hold only what its pool's owner may read (design.md "Warm pools", tenant
isolation): a team's pool prefetches only that team's instances; a shared pool only
instances whose repository is encrypted, with `require_encrypted`, so its cache holds
ciphertext of teams it does not serve yet — and the agent deletes everything not of the
instance it is assigned before that instance's workload starts.

Each order is an agent `Prefetch` command with a deterministic id (standby + snapshot), so
a resend after a lost answer is answered from the agent's memory. One sequence of orders
runs per standby at a time, in the background: a pass of the reconciler never waits on a
download.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow, StandbyHostRow, WarmPoolRow
from ..errors import TorporError
from ..fleet.schemas import Prefetch
from ..instances.agents import AgentCommands
from ..instances.providers import Providers
from ..instances.repositories import repository_url
from ..instances.states import InstanceState
from ..repository_keys.keyring import RepositoryKeyring
from . import rows
from .schemas import READY

log = logging.getLogger(__name__)
PREFETCH_TIMEOUT_S = 3600.0
INSTANCES_PER_STANDBY = 8
"""The most recently active instances a standby prefetches for (its cache is bounded)."""
REMEMBERED_IDS = 32
SERVED_STATES = (InstanceState.RUNNING.value, InstanceState.HIBERNATED.value)


class Wanted(NamedTuple):
    """The latest snapshot of an instance a standby may serve, and its repository's key."""

    instance_id: str
    snapshot_id: str
    wrapped_key: bytes | None
    shared: bool = False
    """For a shared pool's standby: the agent must refuse an unencrypted repository."""


class Prefetcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: Providers,
        agents: AgentCommands,
        repository_keys: RepositoryKeyring,
        timeout_s: float = PREFETCH_TIMEOUT_S,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self._agents = agents
        self._keys = repository_keys
        self.timeout_s = timeout_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def refresh(self) -> None:
        """Starts the missing prefetches of every ready standby (one sequence per host)."""
        async with self._sessions() as session:
            for row in await rows.standbys(session, states=(READY,)):
                if row.id in self._tasks or not row.host_id:
                    continue
                wanted = [
                    w for w in await _wanted(session, row) if w.snapshot_id not in row.prefetched
                ]
                if wanted:
                    task = asyncio.create_task(self._run(row.id, row.host_id, row.provider, wanted))
                    self._tasks[row.id] = task
                    task.add_done_callback(functools.partial(self._done, row.id))

    def _done(self, standby_id: str, _: asyncio.Task[None]) -> None:
        self._tasks.pop(standby_id, None)

    async def wait(self) -> None:
        """Until the prefetches running now are done (tests, the benchmark)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await self.wait()

    async def _run(
        self, standby_id: str, host_id: str, provider: str, wanted: list[Wanted]
    ) -> None:
        """One order at a time. The key goes with the order of its own repository only: a
        standby is never sent the key of an instance it is not prefetching for."""
        for instance_id, snapshot_id, wrapped_key, shared in wanted:
            repository = repository_url(self._providers.get(provider), instance_id)
            command_id = f"{standby_id}-pf-{snapshot_id[:24]}"
            try:  # a stored key that does not open (RepositoryKeyError) skips this one
                key = self._keys.open(instance_id, wrapped_key)
                order = Prefetch(repository, [snapshot_id], key, instance_id, shared)
                await self._agents.run(host_id, command_id, order, self.timeout_s)
            except TorporError as err:
                log.warning("standby %s: prefetch of %s failed: %s", standby_id, snapshot_id, err)
                continue
            await self._record(standby_id, snapshot_id)

    async def _record(self, standby_id: str, snapshot_id: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(StandbyHostRow, standby_id, with_for_update=True)
            if row is not None and snapshot_id not in row.prefetched:
                row.prefetched = [*row.prefetched, snapshot_id][-REMEMBERED_IDS:]


async def _wanted(session: AsyncSession, standby: StandbyHostRow) -> list[Wanted]:
    """The latest snapshots of the instances this standby may serve and hold: its team's
    (a team pool), or the encrypted ones of every team (a shared pool); none when its pool
    is gone."""
    pool = await session.get(WarmPoolRow, standby.pool_id)
    if pool is None:
        return []
    query = select(
        InstanceRow.id, InstanceRow.latest_snapshot_id, InstanceRow.wrapped_repository_key
    ).where(
        InstanceRow.gpu_type == standby.gpu_type,
        InstanceRow.gpu_count == standby.gpu_count,
        InstanceRow.region == standby.region,
        InstanceRow.state.in_(SERVED_STATES),
        InstanceRow.deleted_at.is_(None),
        InstanceRow.latest_snapshot_id.is_not(None),
    )
    if pool.shared:  # ciphertext only: never an unencrypted repository of another team
        query = query.where(InstanceRow.wrapped_repository_key.is_not(None))
    else:
        query = query.where(InstanceRow.team_id == pool.team_id)
    found = await session.execute(
        query.order_by(InstanceRow.state_changed_at.desc()).limit(INSTANCES_PER_STANDBY)
    )
    return [Wanted(i, snap, key, pool.shared) for i, snap, key in found if snap]
