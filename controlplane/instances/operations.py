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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..events.bus import EventBus
from ..events.schemas import Event, Severity
from ..providers.base import HostSpec
from . import journal, store
from .agents import AgentCommands, Taken
from .providers import Providers
from .snapshots import SnapshotService, record
from .states import Action

log = logging.getLogger(__name__)
DONE = "done"
IDLE = "idle"
"""The reason of a hibernate started by an agent's idle report."""
RELEASE_ATTEMPTS = 3
RELEASE_RETRY_S = 1.0


@dataclass(frozen=True)
class Timeouts:
    hibernate_s: float = 3600.0
    """For the agent's whole hibernate sequence: grace period, hooks, final snapshot."""
    restore_s: float = 3600.0
    snapshot_s: float = 3600.0
    command_s: float = 60.0
    """For short agent commands (the idle policy of a new or woken instance)."""


class Failure(Exception):
    """A step failed in a way its operation turns into an outcome (not a retry)."""


Step = Callable[[OperationRow, InstanceRow], Awaitable[str]]


class Orchestrator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        providers: Providers,
        agents: AgentCommands,
        *,
        snapshots: SnapshotService,
        timeouts: Timeouts,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._providers = providers
        self._agents = agents
        self._snapshots = snapshots
        self.timeouts = timeouts
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._steps: dict[tuple[str, str], Step] = {
            ("create", "acquire"): self._acquire,
            ("create", "configure"): self._configure,
            ("create", "finish"): self._finish_create,
            ("hibernate", "snapshot"): self._final_snapshot,
            ("hibernate", "release"): self._release_after_snapshot,
            ("hibernate", "finish"): self._finish_hibernate,
            ("wake", "acquire"): self._acquire,
            ("wake", "restore"): self._restore,
            ("wake", "configure"): self._configure,
            ("wake", "finish"): self._finish_wake,
            ("delete", "release"): self._release_for_delete,
            ("delete", "forget"): self._forget_snapshots,
            ("delete", "finish"): self._finish_delete,
        }

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
        """A bug or an unexpected error: roll back to a state that holds, say why."""
        message = f"{operation.kind} stopped at step {operation.step} on an internal error"
        rollback = {
            "create": Action.PROVISION_FAILED,
            "hibernate": Action.HIBERNATE_FAILED,
            "wake": Action.WAKE_FAILED,
        }.get(operation.kind)
        await self._conclude(operation.id, rollback, journal.FAILED, message)
        await self._emit(instance, f"instance.{operation.kind}_failed", message, "error")

    # --- shared pieces ----------------------------------------------------------------

    async def _conclude(
        self,
        operation_id: str,
        action: Action | None,
        outcome: str,
        reason: str,
        change: Callable[[InstanceRow], None] | None = None,
    ) -> InstanceRow:
        """Finishes the operation and moves its instance, in one transaction."""
        async with self._sessions.begin() as session:
            operation = await journal.load(session, operation_id)
            instance = await store.load(session, operation.instance_id, lock=True)
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
        change: Callable[[AsyncSession, InstanceRow], None] | None = None,
        **details: str,
    ) -> None:
        async with self._sessions.begin() as session:
            operation = await journal.load(session, operation_id)
            instance = await store.load(session, operation.instance_id, lock=True)
            if change is not None:
                change(session, instance)
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

    async def _release(self, instance: InstanceRow) -> None:
        if instance.lease_id:
            await self._providers.get(instance.provider).release(instance.lease_id)

    # --- create and wake: place the instance on a host --------------------------------

    async def _acquire(self, operation: OperationRow, instance: InstanceRow) -> str:
        spec = HostSpec(
            instance.gpu_type, instance.gpu_count, instance.region, instance_id=instance.id
        )
        try:
            provider = self._providers.get(instance.provider)
            placement = await provider.acquire(spec, request_id=operation.request_id or "")
        except TorporError as err:
            await self._placement_failed(operation, instance, err.message)
            return DONE

        def place(_: AsyncSession, row: InstanceRow) -> None:
            row.host_id, row.lease_id = placement.host_id, placement.lease_id
            row.placement = dict(placement.details)

        following = "restore" if operation.kind == "wake" else "configure"
        await self._advance(operation.id, following, place, lease_id=placement.lease_id)
        return following

    async def _placement_failed(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> None:
        if operation.kind == "create":
            action, kind = Action.PROVISION_FAILED, "instance.create_failed"
        else:
            action, kind = Action.WAKE_FAILED, "instance.wake_failed"
        reason = f"no host could be placed: {why}"
        moved = await self._conclude(operation.id, action, journal.FAILED, reason)
        await self._emit(moved, kind, reason, "error")

    async def _finish_create(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._conclude(operation.id, Action.PROVISIONED, journal.OK, "placed")
        await self._emit(moved, "instance.running", f"instance {moved.id} is running")
        return DONE

    async def _restore(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and instance.latest_snapshot_id and operation.command_id
        try:
            await self._agents.restore(
                instance.host_id,
                operation.command_id,
                instance.latest_snapshot_id,
                self.timeouts.restore_s,
            )
        except TorporError as err:
            await self._restore_failed(operation, instance, err.message)
            return DONE
        await self._advance(operation.id, "configure")
        return "configure"

    async def _configure(self, operation: OperationRow, instance: InstanceRow) -> str:
        """Sends the instance's idle-policy override; a refusal is reported, not fatal (the
        agent's own policy applies)."""
        if instance.idle_policy and instance.host_id and operation.command_id:
            try:
                await self._agents.set_idle_policy(
                    instance.host_id,
                    operation.command_id,
                    dict(instance.idle_policy),
                    self.timeouts.command_s,
                )
            except TorporError as err:
                message = f"the agent did not take the instance's idle policy: {err.message}"
                await self._emit(instance, "instance.idle_policy_refused", message, "warning")
        await self._advance(operation.id, "finish")
        return "finish"

    async def _restore_failed(
        self, operation: OperationRow, instance: InstanceRow, why: str
    ) -> None:
        """The new host goes back; the instance stays hibernated, its snapshot untouched."""
        await self._release(instance)

        def unplace(row: InstanceRow) -> None:
            row.host_id, row.lease_id, row.placement = None, None, {}

        reason = f"restoring snapshot {instance.latest_snapshot_id} failed: {why}"
        moved = await self._conclude(
            operation.id, Action.WAKE_FAILED, journal.FAILED, reason, unplace
        )
        await self._emit(moved, "instance.wake_failed", reason, "error")

    async def _finish_wake(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._conclude(operation.id, Action.WOKE, journal.OK, "woken")
        await self._emit(
            moved,
            "instance.running",
            f"instance {moved.id} woke from snapshot {moved.latest_snapshot_id}",
            snapshot_id=moved.latest_snapshot_id or "",
        )
        return DONE

    # --- hibernate ----------------------------------------------------------------------

    async def _final_snapshot(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and operation.command_id
        reason = str((operation.details or {}).get("reason", "requested"))
        try:
            taken = await self._take_final(instance.host_id, operation.command_id, reason)
        except TorporError as err:
            why = f"the final snapshot failed, the instance keeps running: {err.message}"
            moved = await self._conclude(operation.id, Action.HIBERNATE_FAILED, journal.FAILED, why)
            await self._emit(moved, "instance.hibernate_failed", why, "warning")
            return DONE

        def keep(session: AsyncSession, row: InstanceRow) -> None:
            record(session, row, taken, "final", keep=False)

        await self._advance(operation.id, "release", keep, snapshot_id=taken.snapshot_id)
        return "release"

    async def _take_final(self, host_id: str, command_id: str, reason: str) -> Taken:
        """An idle hibernate goes through the agent's own sequence (warning, grace, hooks;
        an inhibitor or new activity cancels it). A user who asks is obeyed: a plain
        snapshot, which neither idle signals nor inhibitors veto."""
        if reason == IDLE:
            return await self._agents.hibernate(
                host_id, command_id, reason, None, self.timeouts.hibernate_s
            )
        return await self._agents.take_snapshot(
            host_id, command_id, f"hibernate ({reason})", False, self.timeouts.hibernate_s
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
        def unplace(row: InstanceRow) -> None:
            row.host_id, row.lease_id, row.placement = None, None, {}

        host_id = instance.host_id
        reason = str((operation.details or {}).get("reason", "requested"))
        moved = await self._conclude(operation.id, Action.HIBERNATED, journal.OK, reason, unplace)
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

        def unplace(_: AsyncSession, row: InstanceRow) -> None:
            row.host_id, row.lease_id, row.placement = None, None, {}

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
