"""AdminService's instance calls: the InstanceService and SnapshotService methods the HTTP
instance routes call, with the operator's Caller (fleet-wide)."""

from __future__ import annotations

from torpor.proto.v1 import admin_pb2

from . import admin_convert
from .admin_base import AdminBase, page_args
from .context import Context, unary


class InstanceRpcs(AdminBase):
    @unary
    async def ListInstances(
        self, request: admin_pb2.ListInstancesRequest, context: Context
    ) -> admin_pb2.ListInstancesResponse:
        caller = await self._caller(context)
        limit, offset = page_args(request.limit, request.offset)
        page = await self._services.instances.list(
            caller, limit, offset, True, team_id=request.team_id or None, state=request.state
        )
        return admin_pb2.ListInstancesResponse(
            instances=[admin_convert.instance_to_proto(v) for v in page.items], total=page.total
        )

    @unary
    async def GetInstance(
        self, request: admin_pb2.GetInstanceRequest, context: Context
    ) -> admin_pb2.Instance:
        caller = await self._caller(context)
        view = await self._services.instances.get(caller, request.id)
        return admin_convert.instance_to_proto(view)

    @unary
    async def HibernateInstance(
        self, request: admin_pb2.HibernateInstanceRequest, context: Context
    ) -> admin_pb2.Instance:
        caller = await self._caller(context)
        view = await self._services.instances.hibernate(caller, request.id)
        return admin_convert.instance_to_proto(view)

    @unary
    async def WakeInstance(
        self, request: admin_pb2.WakeInstanceRequest, context: Context
    ) -> admin_pb2.Instance:
        caller = await self._caller(context)
        view = await self._services.instances.wake(caller, request.id)
        return admin_convert.instance_to_proto(view)

    @unary
    async def ListSnapshots(
        self, request: admin_pb2.ListSnapshotsRequest, context: Context
    ) -> admin_pb2.ListSnapshotsResponse:
        caller = await self._caller(context)
        limit, offset = page_args(request.limit, request.offset)
        page = await self._services.snapshots.page(caller, request.instance_id, limit, offset)
        return admin_pb2.ListSnapshotsResponse(
            snapshots=[admin_convert.snapshot_to_proto(v) for v in page.items], total=page.total
        )
