"""Draining a host: it gets no new placements (`fleet/draining.py`), and its instances
are moved off by the same `InstanceService.hibernate` the HTTP route calls, or, asked with
`failover`, by `FailoverService.request` (a last snapshot, then another host; an instance
already hibernating is left to that hibernate).

`drain` is idempotent: asked again it hibernates whatever is still running there (a
hibernate that failed, or a drain interrupted by a restart) and answers the same drain.
Events: `host.draining` when it starts, `host.drained` once no live instance is left,
`host.drain_stalled` when a hibernate did not take an instance off, `host.undrained`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..accounts.caller import Caller
from ..db.models import HostDrainRow, InstanceRow
from ..errors import Conflict
from ..events.bus import EventBus
from ..events.schemas import Event, Severity
from ..fleet.service import HostService
from ..instances.runner import OperationRunner
from ..instances.service import InstanceService
from ..instances.states import InstanceState
from .schemas import DrainView

if TYPE_CHECKING:
    from ..failover.service import FailoverService

log = logging.getLogger(__name__)
DRAIN_REASON = "drain"
MOVABLE = (InstanceState.RUNNING.value, InstanceState.HIBERNATING.value)
"""States a drain hibernates from (hibernating: the hibernate already running is joined)."""
RUNNING = InstanceState.RUNNING.value


class DrainService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        hosts: HostService,
        instances: InstanceService,
        *,
        operations: OperationRunner,
        failover: FailoverService | None = None,
    ) -> None:
        self._failover = failover
        self._operations = operations
        self._sessions = sessions
        self._bus = bus
        self._hosts = hosts
        self._instances = instances
        self._watchers: set[asyncio.Task[None]] = set()

    async def drain(self, caller: Caller, host_id: str, failover: bool = False) -> DrainView:
        """Marks the host draining and starts moving its instances off (does not wait):
        hibernated, or with `failover` failed over to other hosts."""
        caller.require_operator()
        await self._hosts.get(host_id)  # NotFound for an unknown host
        if await self._start(host_id, caller.email):
            await self._emit(host_id, "host.draining", f"host {host_id} draining")
        operations = await self._move_off(caller, host_id, failover)
        if operations:
            self._watch(host_id, list(operations.values()))
        else:
            await self._settle(host_id)
        return await self.get(host_id, list(operations))

    async def undrain(self, caller: Caller, host_id: str) -> DrainView:
        """The host takes placements again (instances moved off stay where they went)."""
        caller.require_operator()
        await self._hosts.get(host_id)
        async with self._sessions.begin() as session:
            row = await session.get(HostDrainRow, host_id)
            if row is not None:
                await session.delete(row)
        if row is not None:
            await self._emit(host_id, "host.undrained", f"host {host_id} takes placements again")
        return DrainView(host_id, draining=False)

    async def get(self, host_id: str, moving: list[str] | None = None) -> DrainView:
        async with self._sessions() as session:
            row = await session.get(HostDrainRow, host_id)
        if row is None:
            return DrainView(host_id, draining=False)
        return DrainView(
            host_id, True, row.started_at, row.started_by, row.drained_at, moving or []
        )

    async def settled(self) -> None:
        """Waits until every drain this process is watching has settled."""
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def close(self) -> None:
        """Stops waiting for hibernates; `drain` again after a restart finishes the job."""
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def _start(self, host_id: str, by: str) -> bool:
        """Records the drain; False when the host was already draining."""
        async with self._sessions.begin() as session:
            if await session.get(HostDrainRow, host_id) is not None:
                return False
            session.add(HostDrainRow(host_id=host_id, started_at=utc_now(), started_by=by))
        return True

    async def _move_off(self, caller: Caller, host_id: str, failover: bool) -> dict[str, str]:
        """Moves each running instance off the host: instance id -> operation id."""
        operations: dict[str, str] = {}
        for instance_id, state in await self._on_host(host_id, MOVABLE):
            try:
                if failover and self._failover is not None and state == RUNNING:
                    view = await self._failover.request(caller, instance_id)
                else:
                    view = await self._instances.hibernate(caller, instance_id, DRAIN_REASON)
            except Conflict as err:  # busy with something else (a delete): not ours to move
                log.info("drain of %s skips %s: %s", host_id, instance_id, err.message)
                continue
            if view.operation is not None:
                operations[instance_id] = view.operation.id
        return operations

    async def _on_host(
        self, host_id: str, states: tuple[str, ...] | None = None
    ) -> list[tuple[str, str]]:
        """(id, state) of the live instances on the host, oldest first."""
        query = select(InstanceRow.id, InstanceRow.state).where(
            InstanceRow.host_id == host_id, InstanceRow.deleted_at.is_(None)
        )
        if states is not None:
            query = query.where(InstanceRow.state.in_(states))
        async with self._sessions() as session:
            rows = await session.execute(query.order_by(InstanceRow.created_at))
            return [(row.id, row.state) for row in rows]

    def _watch(self, host_id: str, operation_ids: list[str]) -> None:
        async def watch() -> None:
            await asyncio.gather(
                *(self._operations.wait(op) for op in operation_ids), return_exceptions=True
            )
            await self._settle(host_id)

        task = asyncio.create_task(watch(), name=f"torpor-drain-{host_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _settle(self, host_id: str) -> None:
        """`host.drained` once nothing live is left on the host, else `host.drain_stalled`."""
        left = [ident for ident, _ in await self._on_host(host_id)]
        if left:
            await self._emit(
                host_id,
                "host.drain_stalled",
                f"host {host_id} still has {', '.join(left)}: see their events, then run "
                f"`torporctl drain {host_id}` again",
                "warning",
            )
            return
        async with self._sessions.begin() as session:
            row = await session.get(HostDrainRow, host_id)
            if row is None or row.drained_at is not None:
                return
            row.drained_at = utc_now()
        await self._emit(host_id, "host.drained", f"host {host_id} drained: no instance left")

    async def _emit(
        self, host_id: str, kind: str, message: str, severity: Severity = "info"
    ) -> None:
        await self._bus.publish(Event(kind, message, host_id=host_id, severity=severity))
