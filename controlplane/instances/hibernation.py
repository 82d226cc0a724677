"""Hibernation: the hibernate operation's steps — a final snapshot on the host, the
host released, the instance hibernated with that snapshot as its latest.

    snapshot -> release -> finish

A failed final snapshot keeps the instance running on its host; a host that will not
be released is reported, never waited on (the snapshot is safe by then).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, OperationRow
from ..errors import TorporError
from ..events.schemas import Event
from . import journal
from .agents import AgentCommands, Taken
from .recorder import OperationRecorder, unplace
from .releases import Releases
from .snapshots import SnapshotService, record
from .states import Action
from .steps import DONE, Step
from .timeouts import Timeouts

IDLE = "idle"
"""The reason of a hibernate started by an agent's idle report."""
RELEASE_ATTEMPTS = 3


class Hibernation:
    def __init__(
        self,
        recorder: OperationRecorder,
        releases: Releases,
        agents: AgentCommands,
        snapshots: SnapshotService,
        timeouts: Timeouts,
    ) -> None:
        self._recorder = recorder
        self._releases = releases
        self._agents = agents
        self._snapshots = snapshots
        self._timeouts = timeouts

    def steps(self) -> dict[str, Step]:
        return {"snapshot": self.snapshot, "release": self.release, "finish": self.finish}

    async def snapshot(self, operation: OperationRow, instance: InstanceRow) -> str:
        assert instance.host_id and operation.command_id
        reason = str((operation.details or {}).get("reason", "requested"))
        try:
            taken = await self._take_final(instance, operation.command_id, reason)
        except TorporError as err:
            why = f"the final snapshot failed, the instance keeps running: {err.message}"
            moved = await self._recorder.conclude(
                operation.id, Action.HIBERNATE_FAILED, journal.FAILED, why
            )
            await self._recorder.emit(moved, "instance.hibernate_failed", why, "warning")
            return DONE

        def keep(session: AsyncSession, row: InstanceRow) -> None:
            record(session, row, taken, "final", keep=False)

        await self._recorder.advance(operation.id, "release", keep, snapshot_id=taken.snapshot_id)
        return "release"

    async def _take_final(self, instance: InstanceRow, command_id: str, reason: str) -> Taken:
        """An idle hibernate goes through the agent's own sequence (warning, grace, hooks;
        an inhibitor or new activity cancels it). A user who asks is obeyed: a plain
        snapshot, which neither idle signals nor inhibitors veto."""
        assert instance.host_id
        timeout_s, epoch = self._timeouts.hibernate_s, instance.epoch
        if reason == IDLE:
            return await self._agents.hibernate(
                instance.host_id, command_id, reason, None, timeout_s, epoch=epoch
            )
        return await self._agents.take_snapshot(
            instance.host_id, command_id, f"hibernate ({reason})", False, timeout_s, epoch=epoch
        )

    async def release(self, operation: OperationRow, instance: InstanceRow) -> str:
        """The snapshot is safe: a host that will not go is reported, never waited on."""
        await self._releases.release_or_report(instance, attempts=RELEASE_ATTEMPTS)
        await self._recorder.advance(operation.id, "finish")
        return "finish"

    async def finish(self, operation: OperationRow, instance: InstanceRow) -> str:
        host_id = instance.host_id
        reason = str((operation.details or {}).get("reason", "requested"))
        moved = await self._recorder.conclude(
            operation.id,
            Action.HIBERNATED,
            journal.OK,
            reason,
            unplace,
            end_placement="hibernated",
        )
        await self._recorder.publish(
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
