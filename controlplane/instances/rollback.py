"""Rollback: how an operation that cannot go on ends in a state that holds.

A create, wake or failover that fails gives back the host it holds and ends its
placement (the instance: failed, or hibernated with its snapshot intact); a hibernate
that fails keeps the instance running where it is. An unexpected error (a bug) at any
step ends the same way, with an event naming the step.
"""

from __future__ import annotations

from ..db.models import InstanceRow, OperationRow
from . import journal, store
from .recorder import OperationRecorder, unplace
from .releases import Releases
from .states import Action

FAILED_OUTCOME: dict[str, tuple[Action, str]] = {
    "create": (Action.PROVISION_FAILED, "instance.create_failed"),
    "hibernate": (Action.HIBERNATE_FAILED, "instance.hibernate_failed"),
    "wake": (Action.WAKE_FAILED, "instance.wake_failed"),
    "failover": (Action.FAILOVER_FAILED, "instance.failover_failed"),
}
"""How each operation that cannot go on rolls back, and the event that says so."""
UNPLACED_ON_FAILURE = frozenset({"create", "wake", "failover"})
"""Operations whose rollback state (failed, hibernated) holds no host."""


class Rollback:
    def __init__(self, recorder: OperationRecorder, releases: Releases) -> None:
        self._recorder = recorder
        self._releases = releases

    async def placement_failed(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> None:
        """No host could be placed: the one this operation holds (if any) goes back."""
        await self._releases.release_or_report(instance)
        await self.unplaced(operation, f"no host could be placed: {why}")

    async def unplaced(self, operation: OperationRow, reason: str) -> None:
        """Ends a create, wake or failover that holds no host any more (released by the
        caller): its placement ends `<kind>_failed`, the instance takes the rollback state."""
        action, kind = FAILED_OUTCOME[operation.kind]
        moved = await self._recorder.conclude(
            operation.id,
            action,
            journal.FAILED,
            reason,
            unplace,
            end_placement=operation.kind + "_failed",
        )
        await self._recorder.emit(moved, kind, reason, "error")

    async def after_internal_error(self, operation: OperationRow, instance: InstanceRow) -> None:
        """A bug or an unexpected error: roll back to a state that holds, say why. An
        operation whose rollback holds no host (create, wake, failover) gives back the
        host it holds (release is idempotent) and ends its placement."""
        message = f"{operation.kind} stopped at step {operation.step} on an internal error"
        if operation.kind in UNPLACED_ON_FAILURE:
            async with self._recorder.sessions() as session:
                held = await store.load(session, operation.instance_id)
            await self._releases.release_or_report(held)
            await self._release_old_lease(operation, held)
            await self.unplaced(operation, message)
            return
        rollback = FAILED_OUTCOME.get(operation.kind, (None, ""))[0]
        await self._recorder.conclude(operation.id, rollback, journal.FAILED, message)
        await self._recorder.emit(instance, f"instance.{operation.kind}_failed", message, "error")

    async def _release_old_lease(self, operation: OperationRow, held: InstanceRow) -> None:
        """A failover that stops between choosing its target and releasing the old host
        still holds the old lease (kept in its details): the instance ends unplaced, so
        that host serves nobody and is given back too (it fences itself anyway)."""
        details = operation.details or {}
        old_lease = details.get("old_lease_id")
        if operation.kind != "failover" or not old_lease or old_lease == held.lease_id:
            return
        if details.get("old_lease_released"):
            return
        old_host = str(details.get("old_host_id") or "")
        await self._releases.release_or_report(held, str(old_lease), old_host or None)
