"""Operator routes over the fleet's hosts."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from ..fleet.schemas import HostPage, HostState, HostView
from ..fleet.service import MAX_PAGE_SIZE
from ..runtime import ControlPlane
from .caller import require_operator_or_admin
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
        page = await control_plane.services.hosts.list(state=host_state, limit=limit, offset=offset)
        return HostPage(page.items, page.total, limit, offset)

    @get("/{host_id:str}", summary="Get one host", responses=errors(401, 403, 404))
    async def get_host(
        self, control_plane: NamedDependency[ControlPlane], host_id: FromPath[str]
    ) -> HostView:
        return await control_plane.services.hosts.get(host_id)
