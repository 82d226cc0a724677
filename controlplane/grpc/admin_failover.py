"""AdminService's failover calls: the FailoverService methods the HTTP failover routes
call (`POST /instances/{id}/failover`, `/failover/status`, `/failover/readiness`, the
settings). Settings are checked with the HTTP routes' own body models
(`failover/settings_body.py`), so a value one refuses the other refuses too."""

from __future__ import annotations

from torpor.proto.v1 import admin_pb2

from ..failover.settings_body import GlobalSettingsBody, InstanceSettingsBody, checked
from . import admin_convert, admin_convert_more
from .admin_base import AdminBase
from .context import Context, unary


class FailoverRpcs(AdminBase):
    @unary
    async def FailoverInstance(
        self, request: admin_pb2.FailoverInstanceRequest, context: Context
    ) -> admin_pb2.Instance:
        caller = await self._caller(context)
        view = await self._services.failover.request(caller, request.id)
        return admin_convert.instance_to_proto(view)

    @unary
    async def GetFailoverStatus(
        self, request: admin_pb2.GetFailoverStatusRequest, context: Context
    ) -> admin_pb2.FailoverStatus:
        caller = await self._caller(context)
        view = await self._services.failover.status(caller, request.id)
        return admin_convert_more.failover_status_to_proto(view)

    @unary
    async def GetFailoverReadiness(
        self, request: admin_pb2.GetFailoverReadinessRequest, context: Context
    ) -> admin_pb2.FailoverReadiness:
        caller = await self._caller(context)
        view = await self._services.failover.readiness(caller, request.id)
        return admin_convert_more.readiness_to_proto(view)

    @unary
    async def GetFailoverSettings(
        self, request: admin_pb2.GetFailoverSettingsRequest, context: Context
    ) -> admin_pb2.FailoverSettings:
        """No instance id: the global settings (`GET /failover/settings/global`)."""
        caller = await self._caller(context)
        failover = self._services.failover
        if not request.instance_id:
            settings = await failover.policy.global_settings()
            return admin_convert_more.global_settings_to_proto(settings)
        view = await failover.instance_settings(caller, request.instance_id)
        return admin_convert_more.instance_settings_to_proto(view)

    @unary
    async def UpdateFailoverSettings(
        self, request: admin_pb2.UpdateFailoverSettingsRequest, context: Context
    ) -> admin_pb2.FailoverSettings:
        """Replaces them whole, as the HTTP PUT does (unset: default, or inherited)."""
        caller = await self._caller(context)
        failover = self._services.failover
        values = admin_convert_more.setting_values(request.values)
        if not request.instance_id:
            settings = checked(GlobalSettingsBody, values).settings()
            stored = await failover.policy.set_global(settings)
            return admin_convert_more.global_settings_to_proto(stored)
        overrides = checked(InstanceSettingsBody, values).overrides()
        view = await failover.set_instance_settings(caller, request.instance_id, overrides)
        return admin_convert_more.instance_settings_to_proto(view)
