"""AdminService for torporctl: every call needs `authorization: Bearer tat_…`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from ..events.bus import EventBus
from ..fleet.commands import DEFAULT_PING_TIMEOUT_S, CommandService
from ..fleet.service import HostService
from ..identity.admin_tokens import AdminTokenService
from . import convert
from .context import Context, InFlight, bearer_token, server_stream, unary


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        admin_tokens: AdminTokenService,
        hosts: HostService,
        bus: EventBus,
        commands: CommandService,
        inflight: InFlight,
    ) -> None:
        self._inflight = inflight
        self._admin_tokens = admin_tokens
        self._hosts = hosts
        self._bus = bus
        self._commands = commands

    async def _authenticate(self, context: Context) -> None:
        await self._admin_tokens.authenticate(bearer_token(context))

    @unary
    async def ListHosts(
        self, request: admin_pb2.ListHostsRequest, context: Context
    ) -> admin_pb2.ListHostsResponse:
        await self._authenticate(context)
        page = await self._hosts.list(state=convert.state_from_proto(request.state))
        return admin_pb2.ListHostsResponse(hosts=[convert.host_to_proto(h) for h in page.items])

    @unary
    async def GetHost(self, request: admin_pb2.GetHostRequest, context: Context) -> admin_pb2.Host:
        await self._authenticate(context)
        return convert.host_to_proto(await self._hosts.get(request.id))

    @server_stream
    async def WatchEvents(
        self, request: admin_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[common_pb2.Event]:
        """`after_id` 0 means only new events, as admin.proto says."""
        await self._authenticate(context)
        after = request.after_id if request.after_id > 0 else None
        with self._inflight.track():
            async for event in self._bus.subscribe(after, request.host_id or None):
                yield convert.event_to_proto(event)

    @unary
    async def PingHost(
        self, request: admin_pb2.PingHostRequest, context: Context
    ) -> admin_pb2.PingHostResponse:
        await self._authenticate(context)
        timeout_s = request.timeout_ms / 1000 if request.timeout_ms else DEFAULT_PING_TIMEOUT_S
        round_trip_ms = await self._commands.ping(request.host_id, timeout_s)
        return admin_pb2.PingHostResponse(round_trip_ms=round(round_trip_ms))
