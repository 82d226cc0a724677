"""Register, log in, refresh, log out, who am I, and the user's login sessions."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..accounts.schemas import MeView, SessionPage, TokenPair
from ..errors import FailedPrecondition
from ..runtime import ControlPlane
from .account_bodies import LoginBody, RefreshBody, RegisterBody
from .caller import AnyRequest, client_address
from .error_docs import AUTHENTICATED, errors
from .paging import DEFAULT_PAGE_SIZE, Limit, Offset


def _user_agent(request: AnyRequest) -> str:
    return request.headers.get("user-agent", "")


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/register",
        summary="Create an account (and its personal team); logs it in",
        responses=errors(409, 429),
    )
    async def register(
        self,
        control_plane: NamedDependency[ControlPlane],
        request: AnyRequest,
        data: JSONBody[RegisterBody],
    ) -> TokenPair:
        accounts = control_plane.services.accounts
        accounts.rate_limits.register_per_address.hit(client_address(request))
        user = await accounts.users.register(data.email, data.password, data.display_name)
        return await accounts.login_sessions.start(
            user.id, _user_agent(request), client_address(request)
        )

    @post(
        "/login",
        status_code=200,
        summary="Log in: an access token and a refresh token",
        responses=errors(401, 429),
    )
    async def login(
        self,
        control_plane: NamedDependency[ControlPlane],
        request: AnyRequest,
        data: JSONBody[LoginBody],
    ) -> TokenPair:
        accounts = control_plane.services.accounts
        accounts.rate_limits.login_per_address.hit(client_address(request))
        accounts.rate_limits.login_per_email.hit(data.email.strip().lower())
        user = await accounts.users.check_password(data.email, data.password)
        return await accounts.login_sessions.start(
            user.id, _user_agent(request), client_address(request)
        )

    @post(
        "/refresh",
        status_code=200,
        summary="A new access token for a refresh token",
        responses=errors(401),
    )
    async def refresh(
        self, control_plane: NamedDependency[ControlPlane], data: JSONBody[RefreshBody]
    ) -> TokenPair:
        """The refresh token is rotated: use the one in this response next time."""
        return await control_plane.services.accounts.login_sessions.refresh(data.refresh_token)

    @post(
        "/logout",
        status_code=204,
        summary="End the session this access token belongs to",
        responses=errors(*AUTHENTICATED),
    )
    async def logout(
        self, control_plane: NamedDependency[ControlPlane], caller: NamedDependency[Caller]
    ) -> None:
        if caller.session_id is None:
            raise FailedPrecondition(
                "an API key has no session: revoke it with DELETE /api/v1/api-keys/{id}"
            )
        await control_plane.services.accounts.login_sessions.revoke(
            caller.user_id, caller.session_id
        )

    @get(
        "/me",
        summary="Who is calling, in which team, with which role",
        responses=errors(*AUTHENTICATED),
    )
    async def me(
        self, control_plane: NamedDependency[ControlPlane], caller: NamedDependency[Caller]
    ) -> MeView:
        user = await control_plane.services.accounts.users.get(caller.user_id)
        return MeView(user, caller.team_id, caller.role, caller.session_id, caller.api_key_id)

    @get("/sessions", summary="Your live login sessions", responses=errors(*AUTHENTICATED))
    async def list_sessions(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> SessionPage:
        return await control_plane.services.accounts.login_sessions.list(
            caller.user_id, caller.session_id, limit, offset
        )

    @delete(
        "/sessions/{session_id:str}",
        summary="Revoke one of your sessions",
        responses=errors(*AUTHENTICATED),
    )
    async def revoke_session(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        session_id: FromPath[str],
    ) -> None:
        """Its access tokens stop working at once, and its refresh token too."""
        await control_plane.services.accounts.login_sessions.revoke(caller.user_id, session_id)
