"""Deletion: the delete operation's steps — the host released, the repository and its
snapshot records forgotten, the instance marked deleted.

    release -> forget -> finish
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import InstanceRow, OperationRow
from . import journal, placements
from .recorder import OperationRecorder, unplace
from .releases import Releases
from .snapshots import SnapshotService
from .states import Action
from .steps import DONE, Step


class Deletion:
    def __init__(
        self, recorder: OperationRecorder, releases: Releases, snapshots: SnapshotService
    ) -> None:
        self._recorder = recorder
        self._releases = releases
        self._snapshots = snapshots

    def steps(self) -> dict[str, Step]:
        return {"release": self.release, "forget": self.forget, "finish": self.finish}

    async def release(self, operation: OperationRow, instance: InstanceRow) -> str:
        await self._releases.release(instance)

        async def leave(session: AsyncSession, row: InstanceRow) -> None:
            await placements.end(session, row, "deleted")
            unplace(row)

        await self._recorder.advance(operation.id, "forget", leave)
        return "forget"

    async def forget(self, operation: OperationRow, instance: InstanceRow) -> str:
        await self._snapshots.forget_all(instance)
        await self._recorder.advance(operation.id, "finish")
        return "finish"

    async def finish(self, operation: OperationRow, instance: InstanceRow) -> str:
        moved = await self._recorder.conclude(operation.id, Action.DELETE, journal.OK, "deleted")
        await self._recorder.emit(moved, "instance.deleted", f"instance {moved.id} was deleted")
        return DONE
