"""Scheduled snapshots: a running instance with `snapshot_schedule.every_s` gets a snapshot
when its newest one is that old. One loop for every instance; a failed snapshot is logged
and tried again at the next tick (the instance keeps running either way)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import InstanceRow, SnapshotRecordRow
from ..errors import TorporError
from .service import InstanceService
from .states import InstanceState

log = logging.getLogger(__name__)
TICK_S = 30.0
Periods = Callable[[AsyncSession, list[InstanceRow]], Awaitable[dict[str, int]]]


class SnapshotScheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        instances: InstanceService,
        tick_s: float = TICK_S,
        *,
        periods: Periods | None = None,
    ) -> None:
        """`periods`: each instance's period (0: none) — failover's policy, which
        defaults to every 15 min; without it, only instances with
        `snapshot_schedule.every_s` get scheduled snapshots."""
        self._sessions = sessions
        self._instances = instances
        self._tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._periods_of = periods

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="torpor-snapshot-schedule")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.tick()
            except Exception:
                log.exception("scheduled snapshots failed; retrying at the next tick")

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Snapshots every instance that is due; returns their ids."""
        now = now or utc_now()
        due = await self._due(now)
        for instance_id, host_id, epoch in due:
            try:
                await self._instances.snapshot_now(instance_id, host_id, "scheduled", epoch=epoch)
            except TorporError as err:
                log.warning("scheduled snapshot of %s failed: %s", instance_id, err.message)
        return [instance_id for instance_id, _, _ in due]

    async def _due(self, now: datetime) -> list[tuple[str, str, int]]:
        newest = (
            select(func.max(SnapshotRecordRow.created_at))
            .where(SnapshotRecordRow.instance_id == InstanceRow.id)
            .scalar_subquery()
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(InstanceRow, newest).where(
                    InstanceRow.state == InstanceState.RUNNING.value,
                    InstanceRow.deleted_at.is_(None),
                    InstanceRow.host_id.is_not(None),
                )
            )
            pairs = [(row, last) for row, last in rows]
            periods = await self._periods(session, [row for row, _ in pairs])
            found: list[tuple[str, str, int]] = []
            for row, last in pairs:
                every_s = periods.get(row.id)
                if not every_s or row.host_id is None:
                    continue
                since = last or row.state_changed_at
                if now - since >= timedelta(seconds=float(every_s)):
                    found.append((row.id, row.host_id, row.epoch))
            return found

    async def _periods(self, session: AsyncSession, rows: list[InstanceRow]) -> dict[str, int]:
        if self._periods_of is not None:
            return await self._periods_of(session, rows)
        return {row.id: int((row.snapshot_schedule or {}).get("every_s") or 0) for row in rows}
