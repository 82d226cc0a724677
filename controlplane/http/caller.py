"""The `caller` dependency: the authenticated user behind a request (see accounts/caller.py).

Registered app-wide; a route gets authentication by naming a `caller` parameter, and
routes that do not stay public. Fleet-wide routes guard with `require_operator_or_admin`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from ..accounts.caller import Caller
from ..identity.tokens import ADMIN_TOKEN_PREFIX, bearer
from .dependencies import control_plane_of

AnyRequest = Request[Any, Any, Any]


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """Raises Unauthenticated (401) without a valid access token or API key."""
    token = bearer(connection.headers.get("authorization"))
    services = control_plane_of(connection.app.state).services
    return await services.accounts.authenticator.caller(token)


async def provide_caller(request: AnyRequest) -> Caller:
    return await caller_of(request)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


async def operator_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The operator behind an operator route, acting fleet-wide: an admin token's
    (`Caller.operator_token`, as AdminService builds it) or a platform operator's."""
    token = bearer(connection.headers.get("authorization"))
    if token is not None and token.startswith(ADMIN_TOKEN_PREFIX):
        services = control_plane_of(connection.app.state).services
        principal = await services.admin_tokens.authenticate(token)
        return Caller.operator_token(principal.name)
    caller = await caller_of(connection)
    caller.require_operator()
    return replace(caller, fleet_wide=True)


async def require_operator_or_admin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Fleet-wide routes: an admin token (`tat_…`) or a platform operator's token or key."""
    token = bearer(connection.headers.get("authorization"))
    if token is not None and token.startswith(ADMIN_TOKEN_PREFIX):
        services = control_plane_of(connection.app.state).services
        await services.admin_tokens.authenticate(token)
        return
    (await caller_of(connection)).require_operator()
