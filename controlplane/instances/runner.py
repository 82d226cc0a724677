"""OperationRunner: runs journalled operations in the background, one step at a time.

Each step reads the instance and its journal entry, acts, then records the outcome and
the next step in one transaction. At start-up every unfinished operation runs again from
its recorded step (`resume_all`), which is safe because every step is idempotent. A step
that raises (a bug, an unexpected error) ends its operation through the rollback.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import OperationRow
from . import journal, store
from .rollback import Rollback
from .steps import Step, StepTable

log = logging.getLogger(__name__)


class OperationRunner:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], steps: StepTable, rollback: Rollback
    ) -> None:
        self._sessions = sessions
        self._steps = {kind: dict(table) for kind, table in steps.items()}
        self._rollback = rollback
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def replace_step(self, kind: str, step: str, run: Step) -> None:
        """Swaps one step for another (a test's broken step, to see the rollback)."""
        self._steps[kind][step] = run

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
            step = self._steps[operation.kind][operation.step]
            try:
                await step(operation, instance)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("operation %s failed at step %s", operation_id, operation.step)
                await self._rollback.after_internal_error(operation, instance)
                return
