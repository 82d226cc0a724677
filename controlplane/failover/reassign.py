"""Bringing back an instance whose host fenced itself, without a manual step.

A host that could not hear the control plane for its `fence_after_ms` (only hosts whose
provider cannot confirm a release get a bound: placing.fence_after_for) stops the
instance's work and refuses snapshots until it holds a higher epoch. When it is back it
says so — `Hello.assignment.fenced`, and the event `instance.fenced` from its outbox —
and the instance is re-assigned *in place*: same host, same lease, same workspace, the
next epoch. Nothing is restored: the workspace on the host is newer than any snapshot.

    running --(host says fenced at the current epoch)--> fenced   placement N ends "fenced",
                                                                   N+1 begins on the host
    fenced  --(the host confirms Assign N+1)-----------> running  event instance.reassigned
    fenced  --(the host is lost instead)---------------> failing_over (service.on_host_lost)

Safe for "never two copies": no other host is involved, and the epoch goes up, so any
command or manifest of the fenced epoch stays refused. A fenced instance is never shown
`running`; while it is `fenced`, snapshots, hibernate and readiness say why not.

The instance state is in the database and the trigger comes again with every Hello of a
host serving a `fenced` instance, so a control plane that stops half-way is finished by
the next Hello, or by the host's loss (failover) if it never comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import HostRow, InstanceRow
from ..errors import TorporError, Unavailable
from ..events.bus import EventBus
from ..events.follow import follow
from ..events.schemas import Event, Severity
from ..instances import journal, placements, store
from ..instances.agents import AgentCommands
from ..instances.assignment import assignment_of, fence_after_for
from ..instances.providers import Providers
from ..instances.runner import OperationRunner
from ..instances.service import InstanceService
from ..instances.states import Action, InstanceState
from ..instances.timeouts import Timeouts
from ..providers.base import Lease, Offer
from ..repository_keys.keyring import RepositoryKeyring
from ..savings.ledger import PRICE_KEY

log = logging.getLogger(__name__)
FENCED_EVENT = "instance.fenced"
"""What an agent reports once a stream is back after it fenced itself."""
FENCED_END = "fenced"
"""A placement's end reason when its host fenced itself and was re-assigned in place."""
IN_PLACE = "in_place"
"""Chosen by: the same host again, at a new epoch."""
ASSIGN_TIMEOUT_S = 10.0


class Reassignment:
    """Re-assigns instances whose host fenced itself (one at a time per instance)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        instances: InstanceService,
        agents: AgentCommands,
        providers: Providers,
        *,
        operations: OperationRunner,
        timeouts: Timeouts,
        repository_keys: RepositoryKeyring,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._instances = instances
        self._agents = agents
        self._providers = providers
        self._operations = operations
        self._timeouts = timeouts
        self._keys = repository_keys
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    # --- triggers ---------------------------------------------------------------------

    def soon(self, host_id: str, instance_id: str, epoch: int, reason: str) -> None:
        """Runs `host_fenced` in the background (from a Hello: the Welcome goes first)."""
        self._spawn(self.host_fenced(host_id, instance_id, epoch, reason), instance_id)

    async def on_event(self, event: Event) -> None:
        """An agent's `instance.fenced` (attributes instance_id, epoch, reason)."""
        if event.kind != FENCED_EVENT or not event.host_id:
            return
        attributes = event.attributes or {}
        instance_id, epoch = attributes.get("instance_id", ""), attributes.get("epoch", "")
        if not instance_id or not epoch.isdigit():
            log.warning("ignoring %s from host %s: no instance or epoch", event.kind, event.host_id)
            return
        reason = attributes.get("reason", "") or event.message
        ended = attributes.get("processes_ended", "")
        if ended:
            reason = f"{reason}; {ended} process(es) working in the workspace were ended"
        await self.host_fenced(event.host_id, instance_id, int(epoch), reason)

    async def host_fenced(self, host_id: str, instance_id: str, epoch: int, reason: str) -> None:
        """`host_id` says it holds `instance_id` fenced at `epoch`: re-assign it in place."""
        if instance_id in self._busy:
            return  # the Hello and the event of one return: the first one does it
        self._busy.add(instance_id)
        try:
            row = await self._fence(host_id, instance_id, epoch, reason)
            if row is not None:
                await self._reassign(row, reason)
        except Exception:
            log.exception("re-assigning instance %s on host %s failed", instance_id, host_id)
        finally:
            self._busy.discard(instance_id)

    async def mark_overdue(self) -> list[str]:
        """At start-up, once providers are registered: a running instance whose host was
        silent longer than its fence bound + margin while the control plane was away has
        certainly been fenced by its host (if that host was alive at all), so it is not
        shown `running` until the host says Hello (then it is re-assigned) or is lost
        (then failed over). Hosts already back are left to their Hello. Returns the ids."""
        timeouts = self._timeouts
        now, marked = utc_now(), []
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(InstanceRow, HostRow.last_heartbeat_at)
                    .join(HostRow, HostRow.id == InstanceRow.host_id)
                    .where(
                        InstanceRow.deleted_at.is_(None),
                        InstanceRow.state == InstanceState.RUNNING.value,
                    )
                )
            ).all()
        for row, heard in found:
            bound_s = fence_after_for(row, self._providers, timeouts.fence_after_s)
            if not bound_s or heard is None or self._agents.connected(row.host_id or ""):
                continue
            silent_s = (now - heard).total_seconds()
            if silent_s < bound_s + timeouts.fence_margin_s:
                continue
            why = (
                f"nothing heard from it for {silent_s:.0f} s while the control plane was away, "
                f"past its fence bound of {bound_s:g} s: it has stopped the work"
            )
            if await self._fence(row.host_id or "", row.id, row.epoch, why) is not None:
                marked.append(row.id)
        return marked

    def start(self) -> None:
        """Watches the bus for agents' `instance.fenced` events (until `close`)."""
        if self._watch is None:
            self._watch = asyncio.create_task(
                follow(self._bus, FENCED_EVENT, self._on_fenced), name="reassign-watch"
            )

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._watch] if self._watch is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watch = None

    def _on_fenced(self, event: Event) -> None:
        """Live events only: an older `instance.fenced` was either handled then, or its
        host says `fenced` again in its next Hello."""
        self._spawn(self.on_event(event), event.instance_id or "")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=f"reassign-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the two transactions ---------------------------------------------------------

    async def _fence(
        self, host_id: str, instance_id: str, epoch: int, reason: str
    ) -> InstanceRow | None:
        """running at `epoch` on `host_id` -> fenced at epoch+1 on the same host; an instance
        already fenced there is returned as it is; anything else is a stale report (None)."""
        await self._after_operation(instance_id)
        async with self._instances.lock_of(instance_id), self._sessions.begin() as session:
            row = await session.get(InstanceRow, instance_id, with_for_update=True)
            if row is None or row.deleted_at is not None or row.host_id != host_id:
                return None  # moved on (failed over, hibernated, deleted): the Hello fences it
            if row.state == InstanceState.FENCED:
                return row
            if row.state != InstanceState.RUNNING or epoch != row.epoch:
                return None  # an older epoch's report, or an operation took it meanwhile
            if await journal.current(session, instance_id) is not None:
                return None
            why = f"host {host_id} fenced itself at epoch {epoch}: {reason}"
            store.transition(row, Action.FENCE, why)
            await placements.end(session, row, FENCED_END)
            await placements.begin(session, row, _same_host(row), IN_PLACE)
        await self._emit(
            row,
            "instance.host_fenced",
            f"instance {row.id}: {why}; re-assigning it in place at epoch {row.epoch}",
            "warning",
            old_epoch=str(epoch),
            epoch=str(row.epoch),
            reason=reason,
        )
        return row

    async def _reassign(self, row: InstanceRow, reason: str) -> None:
        """Assign N+1 to the same host; confirmed: running again (event instance.reassigned)."""
        assert row.host_id is not None
        timeouts = self._timeouts
        bound_s = fence_after_for(row, self._providers, timeouts.fence_after_s)
        try:
            assignment = assignment_of(row, bound_s, self._keys)
            sent = await self._agents.assign(
                row.host_id, f"reassign-{row.id}-{row.epoch}", assignment, ASSIGN_TIMEOUT_S
            )
            if not sent:
                raise Unavailable(f"host {row.host_id} is not connected")
        except TorporError as err:  # RepositoryKeyError is one too
            text = err.message
            await self._emit(
                row,
                "instance.reassign_unconfirmed",
                f"host {row.host_id} did not confirm epoch {row.epoch} of {row.id} ({text}); "
                "it stays fenced until the host says Hello again (its Welcome carries the "
                "epoch), or is failed over if the host is lost",
                "warning",
                epoch=str(row.epoch),
            )
            return
        await self._running_again(row, reason)

    async def _running_again(self, fenced: InstanceRow, reason: str) -> None:
        async with self._instances.lock_of(fenced.id), self._sessions.begin() as session:
            row = await store.load(session, fenced.id, lock=True)
            if row.state != InstanceState.FENCED or row.epoch != fenced.epoch:
                return  # moved on meanwhile (a failover, a delete)
            store.transition(row, Action.REASSIGNED, f"re-assigned in place at epoch {row.epoch}")
        await self._emit(
            row,
            "instance.reassigned",
            f"instance {row.id} re-assigned in place on host {row.host_id} at epoch "
            f"{row.epoch} with its workspace, after its host fenced itself ({reason}); "
            "the processes it ended are not restarted: start your work again",
            "warning",
            epoch=str(row.epoch),
            reason=reason,
        )

    async def _after_operation(self, instance_id: str) -> None:
        """An operation in flight (a hibernate whose snapshot the fenced host refuses)
        ends first; the report is then judged against where it left the instance."""
        async with self._sessions() as session:
            running = await journal.current(session, instance_id)
        if running is not None:
            await self._operations.wait(running.id)

    async def _emit(
        self, row: InstanceRow, kind: str, message: str, severity: Severity, **attributes: str
    ) -> None:
        await self._bus.publish(
            Event(
                kind,
                message,
                host_id=row.host_id,
                instance_id=row.id,
                severity=severity,
                attributes={"state": row.state, **attributes},
            )
        )


def _same_host(row: InstanceRow) -> Lease:
    """The instance's current host as a placement, to begin the next epoch on it."""
    assert row.host_id is not None
    details = {str(k): str(v) for k, v in (row.placement or {}).items()}
    try:
        price = int(details.get(PRICE_KEY, "0") or 0)
    except ValueError:  # the placement keeps the price as recorded; the offer only carries it
        price = 0
    offer = Offer(row.provider, row.gpu_type, row.gpu_count, row.region, price)
    return Lease(row.provider, row.lease_id or "", row.host_id, offer, details)
