"""The instance lifecycle as the journal runs it: each operation, its steps in order,
and who does each (docs/design.md, "Instances and their state machine").

    create     acquire -> assign -> configure -> finish      provisioning -> running
    wake       acquire -> assign -> restore -> configure -> finish
                                                           hibernated -> waking -> running
    hibernate  snapshot -> release -> finish         running -> hibernating -> hibernated
    delete     release -> forget -> finish                               any -> deleted
    failover   [snapshot] -> target -> release_old -> assign -> restore -> configure ->
               finish (failover/steps.py)                running -> failing_over -> running

A wake's `acquire` takes a warm standby before a new host; `assign` gives the host its
epoch before anything else runs there; a step that fails rolls back (rollback.py).
"""

from __future__ import annotations

from ..db.models import InstanceRow, OperationRow
from . import journal
from .deletion import Deletion
from .hibernation import Hibernation
from .placer import Placer
from .recorder import OperationRecorder
from .restorer import Restorer
from .states import Action
from .steps import DONE, StepTable


class Lifecycle:
    def __init__(
        self,
        recorder: OperationRecorder,
        placer: Placer,
        restorer: Restorer,
        hibernation: Hibernation,
        deletion: Deletion,
    ) -> None:
        self._recorder = recorder
        self._placer = placer
        self._restorer = restorer
        self._hibernation = hibernation
        self._deletion = deletion

    def steps(self) -> StepTable:
        """Create, wake, hibernate and delete; failover brings its own table."""
        place = self._placer
        return {
            "create": {
                "acquire": place.acquire,
                "assign": place.assign,
                "configure": place.configure,
                "finish": self.finish_create,
            },
            "wake": {
                "acquire": place.acquire,
                "assign": place.assign,
                "restore": self._restorer.restore,
                "configure": place.configure,
                "finish": self.finish_wake,
            },
            "hibernate": self._hibernation.steps(),
            "delete": self._deletion.steps(),
        }

    async def finish_create(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._recorder.conclude(
            operation.id, Action.PROVISIONED, journal.OK, "placed"
        )
        await self._recorder.emit(moved, "instance.running", f"instance {moved.id} is running")
        return DONE

    async def finish_wake(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._recorder.conclude(operation.id, Action.WOKE, journal.OK, "woken")
        await self._recorder.emit(
            moved,
            "instance.running",
            f"instance {moved.id} woke from snapshot {moved.latest_snapshot_id}",
            snapshot_id=moved.latest_snapshot_id or "",
        )
        return DONE
