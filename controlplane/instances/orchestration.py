"""What the steps of every operation share: the journal's transactions (advance,
conclude), events, releasing a lease, and the rollback each operation takes.

`Orchestrator` (operations.py) runs operations; its steps come in layers: this base,
placement (placing.py: a standby or a new host, Assign, Restore, the idle policy, a
failed placement's rollback), then hibernate and delete in operations.py, and failover's
own steps in failover/steps.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow, OperationRow
from ..events.bus import EventBus
from ..events.schemas import Event, Severity
from ..failover import placements
from ..repository_keys.keyring import RepositoryKeyring
from ..warmpool.claims import NoStandbys, StandbyClaims
from . import journal, store
from .agents import AgentCommands
from .providers import Providers
from .snapshots import SnapshotService
from .states import Action

log = logging.getLogger(__name__)
DONE = "done"


@dataclass(frozen=True)
class Timeouts:
    hibernate_s: float = 3600.0
    """For the agent's whole hibernate sequence: grace period, hooks, final snapshot."""
    restore_s: float = 3600.0
    snapshot_s: float = 3600.0
    command_s: float = 60.0
    """For short agent commands (the idle policy of a new or woken instance)."""
    fence_after_s: float = 60.0
    """Sent in each Assign: the agent stops the instance's work after this long without
    the control plane (not a timeout of ours; carried here with the agent's others)."""
    fence_margin_s: float = 26.0
    """A failover that cannot confirm the old host is gone waits `fence_after_s` + this
    from the old host's last heartbeat before assigning the new one."""


class Failure(Exception):
    """A step failed in a way its operation turns into an outcome (not a retry)."""


Step = Callable[[OperationRow, InstanceRow], Awaitable[str]]
Change = Callable[[AsyncSession, InstanceRow], Awaitable[None] | None]
FAILED_OUTCOME: dict[str, tuple[Action, str]] = {
    "create": (Action.PROVISION_FAILED, "instance.create_failed"),
    "hibernate": (Action.HIBERNATE_FAILED, "instance.hibernate_failed"),
    "wake": (Action.WAKE_FAILED, "instance.wake_failed"),
    "failover": (Action.FAILOVER_FAILED, "instance.failover_failed"),
}
"""How each operation that cannot go on rolls back, and the event that says so."""
UNPLACED_ON_FAILURE = frozenset({"create", "wake", "failover"})
"""Operations whose rollback state (failed, hibernated) holds no host."""


class OperationSteps:
    """The state every step needs and the pieces they share."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        providers: Providers,
        agents: AgentCommands,
        *,
        snapshots: SnapshotService,
        timeouts: Timeouts,
        repository_keys: RepositoryKeyring,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._providers = providers
        self._agents = agents
        self._snapshots = snapshots
        self.timeouts = timeouts
        self.repository_keys = repository_keys
        """Opens an instance's stored repository key for Assign and Restore."""
        self.standbys: StandbyClaims = NoStandbys()
        """Warm pools (services.py sets them): a wake takes a standby before a new host."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._steps = self._step_table()

    async def _conclude(
        self,
        operation_id: str,
        action: Action | None,
        outcome: str,
        reason: str,
        change: Callable[[InstanceRow], None] | None = None,
        *,
        end_placement: str | None = None,
    ) -> InstanceRow:
        """Finishes the operation and moves its instance, in one transaction (ending its
        placement with `end_placement` as the reason, when given)."""
        async with self._sessions.begin() as session:
            operation = await journal.load(session, operation_id)
            instance = await store.load(session, operation.instance_id, lock=True)
            if end_placement is not None:
                await placements.end(session, instance, end_placement)
            if change is not None:
                change(instance)
            if action is not None:
                store.transition(instance, action, reason)
            journal.finish(operation, outcome, "" if outcome == journal.OK else reason)
            return instance

    async def _advance(
        self,
        operation_id: str,
        step: str,
        change: Change | None = None,
        **details: str,
    ) -> None:
        async with self._sessions.begin() as session:
            operation = await journal.load(session, operation_id)
            instance = await store.load(session, operation.instance_id, lock=True)
            if change is not None and inspect.isawaitable(done := change(session, instance)):
                await done
            journal.advance(operation, step, **details)

    async def _emit(
        self,
        instance: InstanceRow,
        kind: str,
        message: str,
        severity: Severity = "info",
        **attributes: str,
    ) -> None:
        await self._bus.publish(
            Event(
                kind,
                message,
                host_id=instance.host_id,
                instance_id=instance.id,
                severity=severity,
                attributes={"state": instance.state, **attributes},
            )
        )

    async def _release(
        self, instance: InstanceRow, lease_id: str | None = None, host_id: str | None = None
    ) -> None:
        """Gives back the instance's lease, or `lease_id` on `host_id` (one it held before)."""
        if lease_id is None:
            lease_id, host_id = instance.lease_id, instance.host_id
        if lease_id:
            await self._providers.release(instance.provider, lease_id, host_id)

    async def release_quietly(
        self, instance: InstanceRow, lease_id: str | None = None, host_id: str | None = None
    ) -> bool:
        """Releases the instance's lease (or `lease_id` on `host_id`, a lease it held
        before), reporting (not raising) a provider's refusal."""
        if lease_id is None:
            lease_id, host_id = instance.lease_id, instance.host_id
        try:
            await self._release(instance, lease_id, host_id)
        except Exception as err:
            message = (
                f"host {host_id} (lease {lease_id}) could not be "
                f"released and may still be running: {err}"
            )
            await self._emit(instance, "instance.release_failed", message, "error")
            return False
        return True

    async def roll_back_placement(self, operation: OperationRow, reason: str) -> None:
        """Ends a create, wake or failover that holds no host any more (released by the
        caller): its placement ends `<kind>_failed`, the instance takes the rollback state."""
        action, kind = FAILED_OUTCOME[operation.kind]
        moved = await self._conclude(
            operation.id,
            action,
            journal.FAILED,
            reason,
            _unplace,
            end_placement=operation.kind + "_failed",
        )
        await self._emit(moved, kind, reason, "error")

    def _step_table(self) -> dict[tuple[str, str], Step]:
        """(operation kind, step) → the step; the orchestrator's own."""
        return {}

    # Public names for the steps of operations defined in other modules (failover).
    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    advance = _advance
    conclude = _conclude
    emit = _emit


def _unplace(row: InstanceRow) -> None:
    row.host_id, row.lease_id, row.placement = None, None, {}
