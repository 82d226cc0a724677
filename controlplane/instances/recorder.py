"""OperationRecorder: the journal's transactions (advance a step, conclude an operation)
and the events that say what happened, shared by every step of every operation.

Each step acts (an agent command, a provider call), then records its outcome and the
next step in one transaction with the instance row locked, so a restart resumes from
the last recorded step and no two writers interleave on one instance.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow
from ..events.bus import EventBus
from ..events.schemas import Event, Severity
from . import journal, placements, store
from .states import Action

Change = Callable[[AsyncSession, InstanceRow], Awaitable[None] | None]
"""An edit of the instance row made in the step's own transaction."""


class OperationRecorder:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self._bus = bus

    async def advance(
        self, operation_id: str, step: str, change: Change | None = None, **details: str
    ) -> None:
        """Records the next step (and `details`), with `change` applied to the instance."""
        async with self.sessions.begin() as session:
            operation = await journal.load(session, operation_id)
            instance = await store.load(session, operation.instance_id, lock=True)
            if change is not None and inspect.isawaitable(done := change(session, instance)):
                await done
            journal.advance(operation, step, **details)

    async def conclude(
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
        async with self.sessions.begin() as session:
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

    async def emit(
        self,
        instance: InstanceRow,
        kind: str,
        message: str,
        severity: Severity = "info",
        **attributes: str,
    ) -> None:
        """An event about `instance`, carrying its state and `attributes`."""
        await self.publish(
            Event(
                kind,
                message,
                host_id=instance.host_id,
                instance_id=instance.id,
                severity=severity,
                attributes={"state": instance.state, **attributes},
            )
        )

    async def publish(self, event: Event) -> None:
        await self._bus.publish(event)


def unplace(row: InstanceRow) -> None:
    """The instance holds no host any more (hibernated, failed, deleted)."""
    row.host_id, row.lease_id, row.placement = None, None, {}
