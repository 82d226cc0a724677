"""API keys of the calling user: create (the key is shown once), list, revoke."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..accounts.schemas import ApiKeyPage, CreatedApiKey
from ..errors import PermissionDenied
from ..runtime import ControlPlane
from .account_bodies import ApiKeyBody
from .error_docs import AUTHENTICATED, errors
from .paging import DEFAULT_PAGE_SIZE, Limit, Offset


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["api keys"]

    @post(
        "/", summary="Create an API key in your current team", responses=errors(*AUTHENTICATED, 429)
    )
    async def create_api_key(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        data: JSONBody[ApiKeyBody],
    ) -> CreatedApiKey:
        """The key is in this response only; store it now. It acts as you, with your role."""
        if caller.session_id is None:
            raise PermissionDenied("creating API keys needs a login session, not an API key")
        accounts = control_plane.services.accounts
        accounts.rate_limits.api_keys_per_user.hit(caller.user_id)
        return await accounts.api_keys.create(caller, data.name, data.expires_in_s)

    @get("/", summary="Your API keys (without their secrets)", responses=errors(*AUTHENTICATED))
    async def list_api_keys(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> ApiKeyPage:
        return await control_plane.services.accounts.api_keys.list(caller.user_id, limit, offset)

    @delete(
        "/{key_id:str}", summary="Revoke one of your API keys", responses=errors(*AUTHENTICATED)
    )
    async def revoke_api_key(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        key_id: FromPath[str],
    ) -> None:
        """The key stops working at once."""
        await control_plane.services.accounts.api_keys.revoke(caller.user_id, key_id)
