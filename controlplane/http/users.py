"""The calling user's teams and switching between them; accepting an invitation."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..accounts.schemas import TeamPage, TeamView
from ..runtime import ControlPlane
from .account_bodies import SwitchTeamBody
from .error_docs import AUTHENTICATED, errors
from .paging import DEFAULT_PAGE_SIZE, Limit, Offset


class UserController(Controller):
    path = "/api/v1/users/me"
    tags = ["users"]

    @get(
        "/teams",
        summary="The teams you belong to, with your role",
        responses=errors(*AUTHENTICATED),
    )
    async def my_teams(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> TeamPage:
        return await control_plane.services.accounts.teams.list(caller, limit, offset)

    @post(
        "/switch-team",
        status_code=200,
        summary="Make another of your teams the current one",
        responses=errors(*AUTHENTICATED),
    )
    async def switch_team(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        data: JSONBody[SwitchTeamBody],
    ) -> TeamView:
        """Every session of yours acts in that team from the next request on."""
        return await control_plane.services.accounts.teams.switch(caller, data.team_id)


class InvitationController(Controller):
    path = "/api/v1/invitations"
    tags = ["teams"]

    @post(
        "/{token:str}/accept",
        status_code=200,
        summary="Join a team you were invited to",
        responses=errors(*AUTHENTICATED),
    )
    async def accept_invitation(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        token: FromPath[str],
    ) -> TeamView:
        """You must be logged in with the invited email address."""
        return await control_plane.services.accounts.invitations.accept(caller, token)
