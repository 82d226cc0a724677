"""Request-scoped access to the running control plane, and the admin-token guard."""

from __future__ import annotations

from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers import BaseRouteHandler

from ..identity.tokens import bearer
from ..runtime import ControlPlane


def control_plane_of(state: State) -> ControlPlane:
    return cast(ControlPlane, state.control_plane)


async def provide_control_plane(state: State) -> ControlPlane:
    return control_plane_of(state)


async def require_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Operator routes need `Authorization: Bearer tat_…` until user accounts land."""
    token = bearer(connection.headers.get("authorization"))
    await control_plane_of(connection.app.state).services.admin_tokens.authenticate(token)
