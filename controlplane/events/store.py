"""Reading and writing the `events` table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import EventRow
from .schemas import Event, severity_of

REPLAY_PAGE_SIZE = 500


class EventStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def append(self, event: Event) -> tuple[Event, bool]:
        """Stores the event; (stored event, True), or (the earlier copy, False) for a resend
        of an event id already stored (agents resend events they were not sure arrived)."""
        row = _row(event)
        try:
            async with self._sessions.begin() as session:
                session.add(row)
            return event.stored_as(row.id), True
        except IntegrityError:
            existing = await self.by_event_id(event.event_id)
            if existing is None:
                raise
            return existing, False

    async def by_event_id(self, event_id: str) -> Event | None:
        async with self._sessions() as session:
            row = await session.scalar(select(EventRow).where(EventRow.event_id == event_id))
            return _event(row) if row else None

    async def after(
        self,
        seq: int,
        host_id: str | None,
        limit: int = REPLAY_PAGE_SIZE,
        instance_id: str | None = None,
    ) -> list[Event]:
        """Stored events with a seq above `seq`, in order, at most `limit`."""
        query = select(EventRow).where(EventRow.id > seq).order_by(EventRow.id).limit(limit)
        if host_id:
            query = query.where(EventRow.host_id == host_id)
        if instance_id:
            query = query.where(EventRow.instance_id == instance_id)
        async with self._sessions() as session:
            return [_event(row) for row in await session.scalars(query)]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(EventRow.id))) or 0)


def _row(event: Event) -> EventRow:
    return EventRow(
        event_id=event.event_id,
        at=event.at,
        host_id=event.host_id or None,
        instance_id=event.instance_id or None,
        kind=event.kind,
        severity=event.severity,
        message=event.message,
        attributes=dict(event.attributes),
    )


def _event(row: EventRow) -> Event:
    return Event(
        kind=row.kind,
        message=row.message,
        host_id=row.host_id,
        severity=severity_of(row.severity),
        attributes={str(k): str(v) for k, v in (row.attributes or {}).items()},
        event_id=row.event_id,
        at=row.at,
        seq=row.id,
        instance_id=row.instance_id,
    )
