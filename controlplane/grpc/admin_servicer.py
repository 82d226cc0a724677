"""AdminService for torporctl: every call needs `authorization: Bearer tat_…`.

Thin, like the HTTP controllers: each handler authenticates, builds the operator's Caller
(`Caller.operator_token`) and calls the same domain service method the HTTP route calls.
Calls are grouped by concern: hosts and events here, `admin_instances.py`,
`admin_operators.py`, `admin_failover.py`, `admin_warmpool.py`,
`admin_savings.py`; a new concern is one more mixin."""

from __future__ import annotations

from collections.abc import AsyncIterator

from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from ..fleet.operator_commands import DEFAULT_PING_TIMEOUT_S
from . import convert
from .admin_base import AdminBase
from .admin_failover import FailoverRpcs
from .admin_instances import InstanceRpcs
from .admin_operators import OperatorRpcs
from .admin_savings import SavingsRpcs
from .admin_warmpool import WarmPoolRpcs
from .context import Context, server_stream, unary


class HostRpcs(AdminBase):
    @unary
    async def ListHosts(
        self, request: admin_pb2.ListHostsRequest, context: Context
    ) -> admin_pb2.ListHostsResponse:
        await self._caller(context)
        state = convert.state_from_proto(request.state)
        page = await self._services.hosts.list(state=state)
        return admin_pb2.ListHostsResponse(hosts=[convert.host_to_proto(h) for h in page.items])

    @unary
    async def GetHost(self, request: admin_pb2.GetHostRequest, context: Context) -> admin_pb2.Host:
        await self._caller(context)
        return convert.host_to_proto(await self._services.hosts.get(request.id))

    @server_stream
    async def WatchEvents(
        self, request: admin_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[common_pb2.Event]:
        """`after_id` 0 means only new events, as admin.proto says."""
        await self._caller(context)
        after = request.after_id if request.after_id > 0 else None
        with self._inflight.track():
            async for event in self._services.bus.subscribe(after, request.host_id or None):
                yield convert.event_to_proto(event)

    @unary
    async def PingHost(
        self, request: admin_pb2.PingHostRequest, context: Context
    ) -> admin_pb2.PingHostResponse:
        await self._caller(context)
        timeout_s = request.timeout_ms / 1000 if request.timeout_ms else DEFAULT_PING_TIMEOUT_S
        round_trip_ms = await self._services.commands.ping(request.host_id, timeout_s)
        return admin_pb2.PingHostResponse(round_trip_ms=round(round_trip_ms))


class AdminServicer(
    HostRpcs,
    InstanceRpcs,
    OperatorRpcs,
    FailoverRpcs,
    WarmPoolRpcs,
    SavingsRpcs,
    admin_pb2_grpc.AdminServiceServicer,
):
    """Every AdminService call (see admin.proto)."""
