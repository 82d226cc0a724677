"""AdminService's warm-pool calls: the WarmPoolService methods the HTTP `/warmpool/...`
routes call. Provisioning checks its fields with the HTTP route's own body model
(`warmpool/provision.py`), so a value one refuses the other refuses too."""

from __future__ import annotations

from torpor.proto.v1 import admin_pb2

from ..warmpool.provision import checked
from ..warmpool.schemas import PoolRequest
from . import admin_convert_more as to_proto
from .admin_base import AdminBase
from .context import Context, unary


class WarmPoolRpcs(AdminBase):
    @unary
    async def ListWarmPools(
        self, request: admin_pb2.ListWarmPoolsRequest, context: Context
    ) -> admin_pb2.ListWarmPoolsResponse:
        await self._caller(context)
        statuses = await self._services.warmpool.statuses()
        return admin_pb2.ListWarmPoolsResponse(
            pools=[to_proto.pool_status_to_proto(s) for s in statuses]
        )

    @unary
    async def ProvisionWarmPool(
        self, request: admin_pb2.ProvisionWarmPoolRequest, context: Context
    ) -> admin_pb2.ProvisionWarmPoolResponse:
        await self._caller(context)
        view, created = await self._services.warmpool.provision(provision_request(request))
        return admin_pb2.ProvisionWarmPoolResponse(
            pool=to_proto.pool_to_proto(view), created=created
        )

    @unary
    async def SetWarmPoolEnabled(
        self, request: admin_pb2.SetWarmPoolEnabledRequest, context: Context
    ) -> admin_pb2.WarmPool:
        await self._caller(context)
        view = await self._services.warmpool.set_enabled(request.id, request.enabled)
        return to_proto.pool_to_proto(view)

    @unary
    async def GetWarmPoolStatus(
        self, request: admin_pb2.GetWarmPoolStatusRequest, context: Context
    ) -> admin_pb2.WarmPoolStatus:
        await self._caller(context)
        return to_proto.pool_status_to_proto(await self._services.warmpool.status(request.id))

    @unary
    async def ListStandbyHosts(
        self, request: admin_pb2.ListStandbyHostsRequest, context: Context
    ) -> admin_pb2.ListStandbyHostsResponse:
        await self._caller(context)
        found = await self._services.warmpool.hosts(request.pool_id or None)
        return admin_pb2.ListStandbyHostsResponse(
            hosts=[to_proto.standby_to_proto(s) for s in found]
        )

    @unary
    async def CleanupWarmPool(
        self, request: admin_pb2.CleanupWarmPoolRequest, context: Context
    ) -> admin_pb2.CleanupWarmPoolResponse:
        await self._caller(context)
        await self._services.warmpool.cleanup(request.id)
        return admin_pb2.CleanupWarmPoolResponse()


def provision_request(request: admin_pb2.ProvisionWarmPoolRequest) -> PoolRequest:
    """The request checked as `POST /warmpool/provision` checks its body (gpu_count 0: 1;
    an empty team_id: none)."""
    return checked(
        gpu_type=request.gpu_type,
        gpu_count=request.gpu_count or 1,
        region=request.region,
        target=request.target,
        max_idle_s=request.max_idle_s,
        team_id=request.team_id or None,
        shared=request.shared,
    )
