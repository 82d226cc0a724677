"""AdminService's fleet-management calls: draining hosts and agent join tokens."""

from __future__ import annotations

from torpor.proto.v1 import admin_pb2

from . import admin_convert
from .admin_base import AdminBase
from .context import Context, unary


class OperatorRpcs(AdminBase):
    @unary
    async def DrainHost(
        self, request: admin_pb2.DrainHostRequest, context: Context
    ) -> admin_pb2.HostDrain:
        caller = await self._caller(context)
        view = await self._services.drains.drain(caller, request.host_id, request.failover)
        return admin_convert.drain_to_proto(view)

    @unary
    async def UndrainHost(
        self, request: admin_pb2.UndrainHostRequest, context: Context
    ) -> admin_pb2.HostDrain:
        caller = await self._caller(context)
        view = await self._services.drains.undrain(caller, request.host_id)
        return admin_convert.drain_to_proto(view)

    @unary
    async def CreateJoinToken(
        self, request: admin_pb2.CreateJoinTokenRequest, context: Context
    ) -> admin_pb2.CreateJoinTokenResponse:
        await self._caller(context)
        ttl_s = request.ttl_s or self._join_token_ttl_s
        secret, info = await self._services.join_tokens.issue(ttl_s, request.note)
        return admin_pb2.CreateJoinTokenResponse(
            token=admin_convert.join_token_to_proto(info), secret=secret
        )

    @unary
    async def ListJoinTokens(
        self, request: admin_pb2.ListJoinTokensRequest, context: Context
    ) -> admin_pb2.ListJoinTokensResponse:
        await self._caller(context)
        infos = await self._services.join_tokens.list()
        return admin_pb2.ListJoinTokensResponse(
            tokens=[admin_convert.join_token_to_proto(i) for i in infos]
        )

    @unary
    async def RevokeJoinToken(
        self, request: admin_pb2.RevokeJoinTokenRequest, context: Context
    ) -> admin_pb2.JoinToken:
        await self._caller(context)
        info = await self._services.join_tokens.revoke(request.id)
        return admin_convert.join_token_to_proto(info)
