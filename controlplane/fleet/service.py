"""HostService: the stored record of every host, changed by what its agent stream reports."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import HOST_CONNECTED, HOST_DISCONNECTED, HOST_RELEASED, HostDrainRow, HostRow
from ..errors import InvalidArgument, NotFound
from ..events.bus import EventBus
from ..events.schemas import Event, Severity
from .draining import drains_of
from .schemas import Hello, HostPage, HostState, HostView

MAX_PAGE_SIZE = 500


class HostService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus

    async def record_hello(self, hello: Hello) -> HostView:
        """Marks the host connected with what it says about itself; emits `host.connected`
        (and `host.reconnected_after_release` for a host given back: its machine still runs,
        so it is listed again; failover's Hello check fences what it still holds)."""
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.get(HostRow, hello.host_id)
            if row is None:
                raise NotFound(f"no host {hello.host_id!r}", field="host_id")
            was_released = row.state == HOST_RELEASED
            row.hostname, row.agent_version, row.os = hello.hostname, hello.agent_version, hello.os
            row.labels, row.gpus, row.booted_at = (
                dict(hello.labels),
                list(hello.gpus),
                hello.booted_at,
            )
            row.state, row.connected_at, row.last_heartbeat_at = HOST_CONNECTED, now, now
            view = to_view(row)
        if was_released:
            await self._bus.publish(_reconnected_after_release(hello, now))
        await self._bus.publish(
            Event(
                "host.connected",
                f"{hello.hostname} connected",
                host_id=hello.host_id,
                at=now,
                attributes={"agent_version": hello.agent_version},
            )
        )
        return view

    async def record_released(self, host_id: str) -> bool:
        """Marks the host `released` (its provider gave it back on purpose) and emits
        `host.released`; False if it already was. It leaves the default listing and is
        never `host.lost`: nothing is expected from it any more."""
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.get(HostRow, host_id, with_for_update=True)
            if row is None or row.state == HOST_RELEASED:
                return False
            row.disconnected_at = now if row.state == HOST_CONNECTED else row.disconnected_at
            row.state = HOST_RELEASED
        message = f"host {host_id} was released: its provider gave it back"
        await self._bus.publish(Event("host.released", message, host_id=host_id, at=now))
        return True

    async def record_telemetry(self, host_id: str, telemetry: dict[str, Any]) -> None:
        """Keeps the latest telemetry; its arrival is the host's heartbeat."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(HostRow)
                .where(HostRow.id == host_id)
                .values(telemetry=telemetry, last_heartbeat_at=utc_now())
            )

    async def record_disconnect(
        self,
        host_id: str,
        reason: str,
        kind: str = "host.disconnected",
        severity: Severity = "info",
    ) -> bool:
        """Marks a connected host disconnected and emits `kind`; False if it was not connected."""
        now = utc_now()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(HostRow)
                .where(HostRow.id == host_id, HostRow.state == HOST_CONNECTED)
                .values(state=HOST_DISCONNECTED, disconnected_at=now)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._bus.publish(
            Event(
                kind,
                reason,
                host_id=host_id,
                severity=severity,
                at=now,
                attributes={"reason": reason},
            )
        )
        return True

    async def record_lost(self, host_id: str, reason: str) -> None:
        """Emits `host.lost` for a host already disconnected that did not come back in time
        (a killed agent, a cut network): the moment failover may begin, on the record."""
        attributes = {"reason": reason}
        event = Event("host.lost", reason, host_id, "warning", attributes)
        await self._bus.publish(event)

    async def get(self, host_id: str) -> HostView:
        async with self._sessions() as session:
            row = await session.get(HostRow, host_id)
            if row is None:
                raise NotFound(f"no host {host_id!r}", field="host_id")
            return to_view(row, (await drains_of(session, [host_id])).get(host_id))

    async def list(
        self, state: HostState | None = None, limit: int | None = None, offset: int = 0
    ) -> HostPage:
        """Hosts by join order, one state only or (None) every host not released;
        `limit=None` returns all."""
        if offset < 0 or (limit is not None and not 1 <= limit <= MAX_PAGE_SIZE):
            raise InvalidArgument(
                f"limit must be 1..{MAX_PAGE_SIZE} and offset >= 0", field="limit"
            )
        query = select(HostRow).order_by(HostRow.joined_at, HostRow.id).offset(offset)
        counting = select(func.count(HostRow.id))
        matches = HostRow.state == state if state is not None else HostRow.state != HOST_RELEASED
        query, counting = query.where(matches), counting.where(matches)
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions() as session:
            rows = list(await session.scalars(query))
            total = int(await session.scalar(counting) or 0)
            drains = await drains_of(session, [r.id for r in rows])
        views = [to_view(r, drains.get(r.id)) for r in rows]
        return HostPage(views, total, limit or len(rows), offset)

    async def connected_ids(self) -> builtins.list[str]:
        async with self._sessions() as session:
            return list(
                await session.scalars(select(HostRow.id).where(HostRow.state == HOST_CONNECTED))
            )

    async def count_by_state(self) -> dict[str, int]:
        counts = {HOST_CONNECTED: 0, HOST_DISCONNECTED: 0, HOST_RELEASED: 0}
        async with self._sessions() as session:
            rows = await session.execute(
                select(HostRow.state, func.count()).group_by(HostRow.state)
            )
            for state, count in rows:
                counts[state] = int(count)
        return counts


_STATES: dict[str, HostState] = {HOST_CONNECTED: "connected", HOST_RELEASED: "released"}


def _state(value: str) -> HostState:
    return _STATES.get(value, "disconnected")


def _reconnected_after_release(hello: Hello, at: datetime) -> Event:
    message = (
        f"host {hello.host_id} ({hello.hostname}) connected again after it was released:"
        " its machine is still running; release it again or stop its agent"
    )
    return Event("host.reconnected_after_release", message, hello.host_id, "warning", at=at)


def to_view(row: HostRow, drain: HostDrainRow | None = None) -> HostView:
    return HostView(
        id=row.id,
        hostname=row.hostname,
        state=_state(row.state),
        agent_version=row.agent_version,
        os=row.os,
        labels={str(k): str(v) for k, v in (row.labels or {}).items()},
        gpus=list(row.gpus or []),
        joined_at=row.joined_at,
        connected_at=row.connected_at,
        disconnected_at=row.disconnected_at,
        last_heartbeat_at=row.last_heartbeat_at,
        telemetry=row.telemetry,
        booted_at=row.booted_at,
        draining_since=drain.started_at if drain else None,
        drained_at=drain.drained_at if drain else None,
    )
