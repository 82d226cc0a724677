"""Fencing on the control plane's side: what a host is told it serves, and what a host that
was replaced is told when it comes back.

Every Welcome re-states the host's assignment (an agent that restarted gets it back). A
Hello naming an assignment that is no longer the instance's current placement on this host
(failed over, hibernated, deleted) is answered with a `Fence` and an event `host.fenced`;
so is a Hello without one (an older agent) from a host whose placement ended in a failover.
A Hello that says the host holds its current instance fenced (it fenced itself without
the control plane), or one from the host of a `fenced` instance, starts the re-assignment
in place (reassign.py) once the Welcome is out.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow, PlacementRow
from ..errors import TorporError
from ..events.bus import EventBus
from ..events.schemas import Event
from ..fleet.schemas import Assignment, Fence, Hello
from ..instances.assignment import assignment_of, fence_after_for
from ..instances.providers import Providers
from ..instances.states import InstanceState
from ..repository_keys.keyring import RepositoryKeyring
from ..repository_keys.wrapping import RepositoryKeyError
from .reassign import Reassignment

log = logging.getLogger(__name__)
FAILED_OVER = "failed_over"
"""A placement's end reason when failover moved the instance to another host."""


class Fencing:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        fence_after_s: float,
        repository_keys: RepositoryKeyring,
        *,
        providers: Providers,
        reassignment: Reassignment,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._fence_after_s = fence_after_s
        self._keys = repository_keys
        self._providers = providers
        self._reassignment = reassignment

    async def assignment_of(self, host_id: str) -> Assignment | None:
        """The instance placed on `host_id` now, with its epoch and repository key; None:
        none. A stored key that does not open leaves the assignment out of the Welcome (one
        error line): the agent keeps the one it holds, rather than be told "no key"; so does
        a provider not registered yet (a Welcome in the first moments of a start-up must not
        hand a never-fencing host the worst-case bound)."""
        async with self._sessions() as session:
            row = await _placed_on(session, host_id)
        if row is None:
            return None
        try:  # its bound depends on the provider: not yet known during a start-up
            self._providers.get(row.provider)
        except TorporError as err:
            log.info("host %s: no assignment in its Welcome yet: %s", host_id, err.message)
            return None  # the agent keeps the one it holds, bound included
        try:
            bound_s = fence_after_for(row, self._providers, self._fence_after_s)
            return assignment_of(row, bound_s, self._keys)
        except RepositoryKeyError as err:
            log.error("host %s: no assignment in its Welcome: %s", host_id, err.message)
            return None

    async def check_hello(self, hello: Hello) -> Fence | None:
        """A Fence for a host that holds a placement it no longer has (event `host.fenced`)."""
        async with self._sessions() as session:
            if hello.assignment is not None and hello.assignment.instance_id:
                fence = await _stale_claim(session, hello.host_id, hello.assignment)
            else:
                fence = await _replaced_unknowing(session, hello.host_id)
            if fence is None:
                await self._maybe_reassign(session, hello)
        if fence is not None:
            log.warning("fencing host %s: %s", hello.host_id, fence.reason)
            await self._bus.publish(
                Event(
                    "host.fenced",
                    f"host {hello.host_id} fenced: {fence.reason}",
                    host_id=hello.host_id,
                    severity="warning",
                    attributes={"epoch": str(fence.epoch), "reason": fence.reason},
                )
            )
        return fence

    async def _maybe_reassign(self, session: AsyncSession, hello: Hello) -> None:
        """The host's instance is fenced (it says so, or the control plane marked it):
        re-assign it in place, after the Welcome."""
        held = hello.assignment
        if held is None or not held.instance_id:
            return
        row = await session.get(InstanceRow, held.instance_id)
        if row is None or row.host_id != hello.host_id or row.deleted_at is not None:
            return
        if held.fenced or row.state == InstanceState.FENCED:
            epoch = held.epoch if row.state != InstanceState.FENCED else row.epoch
            reason = f"host {hello.host_id} says Hello holding epoch {held.epoch} fenced"
            self._reassignment.soon(hello.host_id, row.id, epoch, reason)


async def _placed_on(session: AsyncSession, host_id: str) -> InstanceRow | None:
    return await session.scalar(
        select(InstanceRow).where(
            InstanceRow.host_id == host_id,
            InstanceRow.deleted_at.is_(None),
            InstanceRow.epoch > 0,
        )
    )


async def _stale_claim(session: AsyncSession, host_id: str, held: Assignment) -> Fence | None:
    row = await session.get(InstanceRow, held.instance_id)
    if row is not None and row.host_id == host_id and row.deleted_at is None:
        return None  # still placed here; the Welcome states the current epoch
    if row is None or row.deleted_at is not None:
        why = f"instance {held.instance_id} no longer exists"
        return Fence(why, held.epoch + 1)
    where = f"host {row.host_id}" if row.host_id else "no host (it is hibernated)"
    why = f"instance {row.id} moved on from epoch {held.epoch}: epoch {row.epoch} is on {where}"
    return Fence(why, max(row.epoch, held.epoch + 1))


async def _replaced_unknowing(session: AsyncSession, host_id: str) -> Fence | None:
    """An agent that names no assignment, on a host whose last placement was failed over
    (and that serves nothing now): it may still be running the instance's work."""
    if await _placed_on(session, host_id) is not None:
        return None
    last = await session.scalar(
        select(PlacementRow)
        .where(PlacementRow.host_id == host_id)
        .order_by(PlacementRow.started_at.desc())
        .limit(1)
    )
    if last is None or last.end_reason != FAILED_OVER:
        return None
    row = await session.get(InstanceRow, last.instance_id)
    epoch = row.epoch if row is not None else last.epoch + 1
    why = f"instance {last.instance_id} was failed over from this host (epoch {last.epoch})"
    return Fence(why, epoch)
