"""Failover routes: fail an instance over now, its status and readiness, the settings.

Thin: the rules live in failover/service.py. The global settings are the operators'
(operator flag or admin token); an instance's own are its team's (any role reads, owners
and members change them).
"""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..failover.policy import FailoverSettings, InstanceSettings
from ..failover.schemas import FailoverReadiness, FailoverStatus
from ..failover.settings_body import GlobalSettingsBody, InstanceSettingsBody
from ..instances.schemas import InstanceView
from ..runtime import ControlPlane
from .caller import require_operator_or_admin
from .error_docs import AUTHENTICATED, errors

READ = errors(*AUTHENTICATED)


class FailoverController(Controller):
    path = "/api/v1"
    tags = ["failover"]

    @post(
        "/instances/{instance_id:str}/failover",
        status_code=202,
        summary="Fail the instance over to another host now",
        responses=READ,
    )
    async def fail_over(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceView:
        """202 with the instance `failing_over` (a last snapshot first if its host answers);
        409 unless running, or when it has no snapshot and its host does not answer."""
        return await control_plane.services.failover.request(caller, instance_id)

    @get(
        "/failover/status/{instance_id:str}",
        summary="Epoch, host, placements and the last failover",
        responses=READ,
    )
    async def status(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> FailoverStatus:
        return await control_plane.services.failover.status(caller, instance_id)

    @get(
        "/failover/readiness/{instance_id:str}",
        summary="Could it fail over now, and what would it lose",
        responses=READ,
    )
    async def readiness(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> FailoverReadiness:
        return await control_plane.services.failover.readiness(caller, instance_id)

    @get(
        "/instances/{instance_id:str}/failover/settings",
        summary="The instance's failover settings: its own and the effective ones",
        responses=READ,
    )
    async def instance_settings(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceSettings:
        return await control_plane.services.failover.instance_settings(caller, instance_id)

    @put(
        "/instances/{instance_id:str}/failover/settings",
        summary="Replace the instance's own failover settings (null: inherit)",
        responses=READ,
    )
    async def put_instance_settings(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
        data: JSONBody[InstanceSettingsBody],
    ) -> InstanceSettings:
        return await control_plane.services.failover.set_instance_settings(
            caller, instance_id, data.overrides()
        )

    @get(
        "/failover/settings/global",
        summary="The global failover settings (operators)",
        responses=errors(401, 403),
        guards=[require_operator_or_admin],
    )
    async def global_settings(
        self, control_plane: NamedDependency[ControlPlane]
    ) -> FailoverSettings:
        return await control_plane.services.failover.policy.global_settings()

    @put(
        "/failover/settings/global",
        summary="Replace the global failover settings (operators)",
        responses=errors(401, 403),
        guards=[require_operator_or_admin],
    )
    async def put_global_settings(
        self,
        control_plane: NamedDependency[ControlPlane],
        data: JSONBody[GlobalSettingsBody],
    ) -> FailoverSettings:
        return await control_plane.services.failover.policy.set_global(data.settings())
