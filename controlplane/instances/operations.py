"""The orchestration of create, hibernate, wake and delete, one journalled step at a time.

Each step reads the instance and its journal entry, acts (an agent command, a provider
call), then records the outcome and the next step in one transaction. A failure leaves a
consistent state and an event saying why: a failed snapshot keeps the instance running on
its host, a failed restore leaves it hibernated with its snapshot intact, a failed
placement marks a new instance failed. At start-up every unfinished operation is run again
from its recorded step (`resume_all`), which is safe because every step is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..events.schemas import Event
from ..failover import placements
from . import journal, store
from .agents import Taken
from .orchestration import (
    DONE,
    FAILED_OUTCOME,
    UNPLACED_ON_FAILURE,
    Change,
    Failure,
    Step,
    Timeouts,
    _unplace,
)
from .placing import PlacementSteps, assignment_of
from .snapshots import record
from .states import Action

log = logging.getLogger(__name__)
IDLE = "idle"
"""The reason of a hibernate started by an agent's idle report."""
RELEASE_ATTEMPTS = 3
RELEASE_RETRY_S = 1.0


__all__ = [
    "DONE",
    "IDLE",
    "Change",
    "Failure",
    "Orchestrator",
    "Step",
    "Timeouts",
    "assignment_of",
]


class Orchestrator(PlacementSteps):
    """Runs operations in the background, one journalled step at a time; the steps of
    placement live in placing.py, the shared pieces in orchestration.py."""

    def _step_table(self) -> dict[tuple[str, str], Step]:
        return {
            ("create", "acquire"): self._acquire,
            ("create", "assign"): self._assign,
            ("create", "configure"): self._configure,
            ("create", "finish"): self._finish_create,
            ("hibernate", "snapshot"): self._final_snapshot,
            ("hibernate", "release"): self._release_after_snapshot,
            ("hibernate", "finish"): self._finish_hibernate,
            ("wake", "acquire"): self._acquire,
            ("wake", "assign"): self._assign,
            ("wake", "restore"): self._restore,
            ("wake", "configure"): self._configure,
            ("wake", "finish"): self._finish_wake,
            # failover/steps.py registers the rest: snapshot, target, release_old, finish
            ("failover", "assign"): self._assign,
            ("failover", "restore"): self._restore,
            ("failover", "configure"): self._configure,
            ("delete", "release"): self._release_for_delete,
            ("delete", "forget"): self._forget_snapshots,
            ("delete", "finish"): self._finish_delete,
        }

    def register(self, kind: str, steps: dict[str, Step]) -> None:
        """Adds the steps of an operation defined elsewhere (failover/steps.py)."""
        self._steps.update({(kind, step): run for step, run in steps.items()})

    # --- running operations -----------------------------------------------------------

    def start(self, operation_id: str) -> None:
        """Runs the operation in the background (once, even if asked twice)."""
        if operation_id in self._tasks:
            return
        task = asyncio.create_task(self.run(operation_id), name=f"torpor-{operation_id}")
        self._tasks[operation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(operation_id, None))

    async def wait(self, operation_id: str) -> None:
        task = self._tasks.get(operation_id)
        if task is not None:
            await asyncio.shield(task)

    async def resume_all(self) -> list[str]:
        """Starts every unfinished operation from its recorded step (control-plane start)."""
        async with self._sessions() as session:
            ids = [op.id for op in await journal.unfinished(session)]
        for ident in ids:
            log.info("resuming operation %s after a restart", ident)
            self.start(ident)
        return ids

    async def close(self) -> None:
        """Stops the running operations where they are; the journal resumes them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, operation_id: str) -> None:
        while True:
            async with self._sessions() as session:
                operation = await session.get(OperationRow, operation_id)
                if operation is None or operation.finished_at is not None:
                    return
                instance = await store.load(session, operation.instance_id)
            step = self._steps[(operation.kind, operation.step)]
            try:
                await step(operation, instance)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("operation %s failed at step %s", operation_id, operation.step)
                await self._give_up(operation, instance)
                return

    async def _give_up(self, operation: OperationRow, instance: InstanceRow) -> None:
        """A bug or an unexpected error: roll back to a state that holds, say why. An
        operation whose rollback holds no host (create, wake, failover) gives back the
        host it holds (release is idempotent) and ends its placement."""
        message = f"{operation.kind} stopped at step {operation.step} on an internal error"
        if operation.kind in UNPLACED_ON_FAILURE:
            async with self._sessions() as session:
                held = await store.load(session, operation.instance_id)
            await self.release_quietly(held)
            await self._release_old_lease(operation, held)
            await self.roll_back_placement(operation, message)
            return
        rollback = FAILED_OUTCOME.get(operation.kind, (None, ""))[0]
        await self._conclude(operation.id, rollback, journal.FAILED, message)
        await self._emit(instance, f"instance.{operation.kind}_failed", message, "error")

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
        await self.release_quietly(held, str(old_lease), old_host or None)

    # --- hibernate ----------------------------------------------------------------------

    async def _final_snapshot(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and operation.command_id
        reason = str((operation.details or {}).get("reason", "requested"))
        try:
            taken = await self._take_final(instance, operation.command_id, reason)
        except TorporError as err:
            why = f"the final snapshot failed, the instance keeps running: {err.message}"
            moved = await self._conclude(operation.id, Action.HIBERNATE_FAILED, journal.FAILED, why)
            await self._emit(moved, "instance.hibernate_failed", why, "warning")
            return DONE

        def keep(session: AsyncSession, row: InstanceRow) -> None:
            record(session, row, taken, "final", keep=False)

        await self._advance(operation.id, "release", keep, snapshot_id=taken.snapshot_id)
        return "release"

    async def _take_final(self, instance: InstanceRow, command_id: str, reason: str) -> Taken:
        """An idle hibernate goes through the agent's own sequence (warning, grace, hooks;
        an inhibitor or new activity cancels it). A user who asks is obeyed: a plain
        snapshot, which neither idle signals nor inhibitors veto."""
        assert instance.host_id
        timeout_s, epoch = self.timeouts.hibernate_s, instance.epoch
        if reason == IDLE:
            return await self._agents.hibernate(
                instance.host_id, command_id, reason, None, timeout_s, epoch=epoch
            )
        return await self._agents.take_snapshot(
            instance.host_id, command_id, f"hibernate ({reason})", False, timeout_s, epoch=epoch
        )

    async def _release_after_snapshot(self, operation: OperationRow, instance: InstanceRow) -> str:
        """The snapshot is safe: a host that will not go is reported, never waited on."""
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                await self._release(instance)
                break
            except Exception as err:
                log.warning("releasing lease %s failed: %s", instance.lease_id, err)
                if attempt + 1 == RELEASE_ATTEMPTS:
                    message = (
                        f"host {instance.host_id} (lease {instance.lease_id}) could not be "
                        f"released and may still be running: {err}"
                    )
                    await self._emit(instance, "instance.release_failed", message, "error")
                else:
                    await asyncio.sleep(RELEASE_RETRY_S * (attempt + 1))
        await self._advance(operation.id, "finish")
        return "finish"

    async def _finish_hibernate(self, operation: OperationRow, instance: InstanceRow) -> str:
        host_id = instance.host_id
        reason = str((operation.details or {}).get("reason", "requested"))
        moved = await self._conclude(
            operation.id,
            Action.HIBERNATED,
            journal.OK,
            reason,
            _unplace,
            end_placement="hibernated",
        )
        await self._bus.publish(
            Event(
                "instance.hibernated",
                f"instance {moved.id} hibernated ({reason}); snapshot {moved.latest_snapshot_id}",
                host_id=host_id,
                instance_id=moved.id,
                attributes={
                    "state": moved.state,
                    "snapshot_id": moved.latest_snapshot_id or "",
                    "reason": reason,
                },
            )
        )
        await self._snapshots.apply_retention(moved.id)
        return DONE

    # --- delete -------------------------------------------------------------------------

    async def _release_for_delete(self, operation: OperationRow, instance: InstanceRow) -> str:
        await self._release(instance)

        async def unplace(session: AsyncSession, row: InstanceRow) -> None:
            await placements.end(session, row, "deleted")
            _unplace(row)

        await self._advance(operation.id, "forget", unplace)
        return "forget"

    async def _forget_snapshots(self, operation: OperationRow, instance: InstanceRow) -> str:
        await self._snapshots.forget_all(instance)
        await self._advance(operation.id, "finish")
        return "finish"

    async def _finish_delete(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._conclude(operation.id, Action.DELETE, journal.OK, "deleted")
        await self._emit(moved, "instance.deleted", f"instance {moved.id} was deleted")
        return DONE
