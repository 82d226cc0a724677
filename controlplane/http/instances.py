"""Instance routes: create, read, hibernate, wake, delete; its snapshots, events, metrics
and live feed. Thin: every rule (roles, teams, states) lives in the services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from ..accounts.caller import Caller
from ..errors import Unavailable
from ..events.schemas import Event
from ..instances.schemas import InstanceMetrics, InstanceView, Page, SnapshotView
from ..runtime import ControlPlane
from .error_docs import AUTHENTICATED, errors
from .instance_bodies import CreateInstanceBody, TakeSnapshotBody
from .paging import DEFAULT_PAGE_SIZE, MAX_OFFSET, Limit, Offset

MAX_FEED_ITEMS = 10_000
READ = errors(*AUTHENTICATED)
PLACING = errors(*AUTHENTICATED, 503)
"""Placing or releasing needs a provider, which may not answer."""
AGENT = errors(*AUTHENTICATED, 503, 504)
"""Waits for the instance's agent."""


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    next_after: int
    """Pass as `after` to get the events that follow (a cursor: the last seq returned)."""


class InstanceController(Controller):
    path = "/api/v1/instances"
    tags = ["instances"]

    @get(
        "/",
        summary="List the team's instances (operators: every team's, `all_teams`)",
        responses=READ,
    )
    async def list_instances(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
        all_teams: Annotated[bool, QueryParameter()] = False,
    ) -> Page[InstanceView]:
        return await control_plane.services.instances.list(caller, limit, offset, all_teams)

    @post(
        "/",
        status_code=202,
        summary="Create an instance; it is placed in the background",
        responses=PLACING,
    )
    async def create_instance(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        data: JSONBody[CreateInstanceBody],
    ) -> InstanceView:
        return await control_plane.services.instances.create(caller, data.spec())

    @get(
        "/{instance_id:str}", summary="One instance, with the operation in progress", responses=READ
    )
    async def get_instance(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceView:
        return await control_plane.services.instances.get(caller, instance_id)

    @delete(
        "/{instance_id:str}",
        status_code=200,
        summary="Delete: host and snapshots go",
        responses=PLACING,
    )
    async def delete_instance(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceView:
        return await control_plane.services.instances.delete(caller, instance_id)

    @post(
        "/{instance_id:str}/hibernate",
        status_code=202,
        summary="Snapshot, release the host",
        responses=READ,
    )
    async def hibernate(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceView:
        """202 with the instance `hibernating`; asked again meanwhile, the same answer."""
        return await control_plane.services.instances.hibernate(caller, instance_id)

    @post(
        "/{instance_id:str}/wake",
        status_code=202,
        summary="Place on a host, restore",
        responses=READ,
    )
    async def wake(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceView:
        """202 with the instance `waking`; asked again meanwhile, the same answer."""
        return await control_plane.services.instances.wake(caller, instance_id)

    @get(
        "/{instance_id:str}/snapshots",
        summary="The instance's snapshots, newest first",
        responses=READ,
    )
    async def list_snapshots(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> Page[SnapshotView]:
        return await control_plane.services.snapshots.page(caller, instance_id, limit, offset)

    @post(
        "/{instance_id:str}/snapshots",
        status_code=201,
        summary="Take a snapshot now",
        responses=AGENT,
    )
    async def take_snapshot(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
        data: JSONBody[TakeSnapshotBody],
    ) -> SnapshotView:
        return await control_plane.services.instances.take_snapshot(
            caller, instance_id, data.keep_forever
        )

    @get("/{instance_id:str}/events", summary="The instance's events, oldest first", responses=READ)
    async def list_events(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
        after: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> EventPage:
        observer = control_plane.services.observer
        items = await observer.events(caller, instance_id, after, limit)
        return EventPage(items, items[-1].seq if items else after)

    @get(
        "/{instance_id:str}/metrics",
        summary="Time in each state, its host's telemetry",
        responses=READ,
    )
    async def metrics(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceMetrics:
        return await control_plane.services.observer.metrics(caller, instance_id)

    @get(
        "/{instance_id:str}/feed",
        summary="Live events and telemetry (server-sent events)",
        responses=READ,
    )
    async def feed(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
        max_items: Annotated[int, QueryParameter(ge=1, le=MAX_FEED_ITEMS)] = MAX_FEED_ITEMS,
    ) -> ServerSentEvent:
        """`event: event` for each new event, `event: telemetry` every few seconds; the
        stream ends after `max_items` messages (reconnect for more)."""
        observer = control_plane.services.observer
        every_s = control_plane.settings.feed_telemetry_interval_s
        items = observer.feed(caller, instance_id, every_s)
        first = await anext(items)  # ownership checked before the 200 goes out

        async def messages() -> AsyncIterator[ServerSentEventMessage]:
            yield ServerSentEventMessage(data=json.dumps(first.data), event=first.kind)
            try:
                for _ in range(max_items - 1):  # counted before waiting for the next one
                    item = await anext(items)
                    yield ServerSentEventMessage(data=json.dumps(item.data), event=item.kind)
            except Unavailable:  # shutting down, or fell behind: the client reconnects
                return
            finally:
                await items.aclose()  # type: ignore[attr-defined]

        return ServerSentEvent(messages())
