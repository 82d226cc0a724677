"""What an instance did and how it is doing: its events, metrics and live feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..accounts.caller import Caller
from ..errors import NotFound
from ..events.bus import EventBus
from ..events.schemas import Event
from ..events.store import EventStore
from ..fleet.service import HostService
from . import store
from .schemas import InstanceMetrics
from .service import InstanceService
from .states import InstanceState


@dataclass(frozen=True)
class FeedItem:
    """One message of the live feed: an event, or the host's latest telemetry."""

    kind: str
    data: dict[str, Any]


class InstanceObserver:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        instances: InstanceService,
        events: EventStore,
        bus: EventBus,
        hosts: HostService,
    ) -> None:
        self._sessions = sessions
        self._instances = instances
        self._events = events
        self._bus = bus
        self._hosts = hosts

    async def events(
        self, caller: Caller, instance_id: str, after_seq: int, limit: int
    ) -> list[Event]:
        """The instance's events after `after_seq` (a cursor: the last seq seen), in order."""
        await self._instances.get(caller, instance_id)
        return await self._events.after(after_seq, None, limit, instance_id=instance_id)

    async def metrics(self, caller: Caller, instance_id: str) -> InstanceMetrics:
        view = await self._instances.get(caller, instance_id)
        async with self._sessions() as session:
            row = await store.load(session, instance_id)
        spent = store.seconds_in_state(row)
        telemetry = None
        if view.host_id is not None:
            with contextlib.suppress(NotFound):  # placed, its agent not joined yet
                telemetry = (await self._hosts.get(view.host_id)).telemetry
        return InstanceMetrics(
            instance_id=view.id,
            state=view.state,
            seconds_in_state=spent,
            hibernated_seconds=spent.get(InstanceState.HIBERNATED.value, 0.0),
            host_id=view.host_id,
            telemetry=telemetry,
        )

    async def feed(
        self, caller: Caller, instance_id: str, telemetry_every_s: float
    ) -> AsyncIterator[FeedItem]:
        """The instance's new events as they happen, and its host's telemetry every
        `telemetry_every_s`, starting with the telemetry now (so ownership is checked before
        the first item); ends when the bus closes (shutdown) or the caller stops."""
        yield FeedItem("telemetry", await self._telemetry(caller, instance_id))
        events = aiter(self._bus.subscribe(instance_id=instance_id))
        next_event: asyncio.Task[Event] | None = None
        try:
            while True:
                if next_event is None:
                    next_event = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({next_event}, timeout=telemetry_every_s)
                if next_event in done:
                    event = next_event.result()
                    next_event = None
                    yield FeedItem("event", _event_data(event))
                else:
                    yield FeedItem("telemetry", await self._telemetry(caller, instance_id))
        finally:
            if next_event is not None:
                next_event.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await next_event  # the generator must stop running before it closes
            await events.aclose()  # type: ignore[attr-defined]

    async def _telemetry(self, caller: Caller, instance_id: str) -> dict[str, Any]:
        metrics = await self.metrics(caller, instance_id)
        return {"state": metrics.state, "host_id": metrics.host_id, "telemetry": metrics.telemetry}


def _event_data(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "kind": event.kind,
        "message": event.message,
        "severity": event.severity,
        "at": event.at.isoformat(),
        "host_id": event.host_id,
        "instance_id": event.instance_id,
        "attributes": event.attributes,
    }
