"""Operator routes over the fleet's hosts."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from ..fleet.schemas import HostPage, HostState, HostView
from ..fleet.service import MAX_PAGE_SIZE
from ..operators.schemas import DrainView
from ..runtime import ControlPlane
from .caller import AnyRequest, operator_caller, require_operator_or_admin
from .error_docs import errors
from .paging import Offset

DEFAULT_PAGE_SIZE = 50


class HostController(Controller):
    path = "/api/v1/hosts"
    tags = ["hosts"]
    guards = [require_operator_or_admin]

    @get("/", summary="List hosts", responses=errors(401, 403))
    async def list_hosts(
        self,
        control_plane: NamedDependency[ControlPlane],
        # `state` is a reserved Litestar parameter name, hence the alias.
        host_state: Annotated[HostState | None, QueryParameter(name="state")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> HostPage:
        """Every host but those `released` (given back to their provider on purpose);
        `?state=released` lists those, `?state=connected` or `disconnected` the others."""
        page = await control_plane.services.hosts.list(state=host_state, limit=limit, offset=offset)
        return HostPage(page.items, page.total, limit, offset)

    @get("/{host_id:str}", summary="Get one host", responses=errors(401, 403, 404))
    async def get_host(
        self, control_plane: NamedDependency[ControlPlane], host_id: FromPath[str]
    ) -> HostView:
        return await control_plane.services.hosts.get(host_id)

    @post(
        "/{host_id:str}/drain",
        status_code=202,
        summary="Drain: no new placements, running instances hibernated",
        responses=errors(401, 403, 404),
    )
    async def drain_host(
        self,
        request: AnyRequest,
        control_plane: NamedDependency[ControlPlane],
        host_id: FromPath[str],
        failover: Annotated[
            bool, QueryParameter(description="fail instances over instead of hibernating")
        ] = False,
    ) -> DrainView:
        """202 with the drain; `host.drained` follows once no instance is left on it."""
        caller = await operator_caller(request)
        return await control_plane.services.drains.drain(caller, host_id, failover)

    @post(
        "/{host_id:str}/undrain",
        status_code=200,
        summary="Undrain: the host takes placements again",
        responses=errors(401, 403, 404),
    )
    async def undrain_host(
        self,
        request: AnyRequest,
        control_plane: NamedDependency[ControlPlane],
        host_id: FromPath[str],
    ) -> DrainView:
        caller = await operator_caller(request)
        return await control_plane.services.drains.undrain(caller, host_id)
