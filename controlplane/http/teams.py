"""Teams, their members and invitations. A team you are not in answers 404; an action
your role does not allow answers 403 naming the roles that may."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..accounts.schemas import (
    CreatedInvitation,
    InvitationPage,
    MemberPage,
    MemberView,
    TeamPage,
    TeamView,
)
from ..accounts.service import AccountServices
from ..runtime import ControlPlane
from .account_bodies import InvitationBody, MemberBody, RoleBody, TeamBody
from .error_docs import AUTHENTICATED, errors
from .paging import DEFAULT_PAGE_SIZE, Limit, Offset

DOCUMENTED = errors(*AUTHENTICATED)


def _accounts(control_plane: ControlPlane) -> AccountServices:
    return control_plane.services.accounts


class TeamController(Controller):
    path = "/api/v1/teams"
    tags = ["teams"]

    @get("/", summary="Your teams", responses=DOCUMENTED)
    async def list_teams(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> TeamPage:
        return await _accounts(control_plane).teams.list(caller, limit, offset)

    @post("/", summary="Create a team you own", responses=DOCUMENTED)
    async def create_team(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        data: JSONBody[TeamBody],
    ) -> TeamView:
        return await _accounts(control_plane).teams.create(caller, data.name)

    @get("/{team_id:str}", summary="One of your teams", responses=DOCUMENTED)
    async def get_team(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
    ) -> TeamView:
        return await _accounts(control_plane).teams.get(caller, team_id)

    @put("/{team_id:str}", summary="Rename a team (owner)", responses=DOCUMENTED)
    async def rename_team(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        data: JSONBody[TeamBody],
    ) -> TeamView:
        return await _accounts(control_plane).teams.rename(caller, team_id, data.name)

    @delete("/{team_id:str}", summary="Delete a team (owner)", responses=DOCUMENTED)
    async def delete_team(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
    ) -> None:
        """Refused (409) for your only team, and while the team still has live resources."""
        await _accounts(control_plane).teams.delete(caller, team_id)

    @get("/{team_id:str}/members", summary="The team's members", responses=DOCUMENTED)
    async def list_members(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> MemberPage:
        return await _accounts(control_plane).members.list(caller, team_id, limit, offset)

    @post("/{team_id:str}/members", summary="Add a registered user (owner)", responses=DOCUMENTED)
    async def add_member(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        data: JSONBody[MemberBody],
    ) -> MemberView:
        """People without an account yet: invite them instead."""
        return await _accounts(control_plane).members.add(caller, team_id, data.email, data.role)

    @delete(
        "/{team_id:str}/members/{user_id:str}",
        summary="Remove a member (owner), or leave (yourself)",
        responses=DOCUMENTED,
    )
    async def remove_member(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        user_id: FromPath[str],
    ) -> None:
        """The last owner cannot leave (409): make someone else owner first."""
        await _accounts(control_plane).members.remove(caller, team_id, user_id)

    @put(
        "/{team_id:str}/members/{user_id:str}/role",
        summary="Change a member's role (owner)",
        responses=DOCUMENTED,
    )
    async def set_role(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        user_id: FromPath[str],
        data: JSONBody[RoleBody],
    ) -> MemberView:
        return await _accounts(control_plane).members.set_role(caller, team_id, user_id, data.role)

    @post(
        "/{team_id:str}/invitations",
        summary="Invite an email address (owner); the token is shown once",
        responses=DOCUMENTED,
    )
    async def invite(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        data: JSONBody[InvitationBody],
    ) -> CreatedInvitation:
        return await _accounts(control_plane).invitations.create(
            caller, team_id, data.email, data.role
        )

    @get("/{team_id:str}/invitations", summary="Open invitations (owner)", responses=DOCUMENTED)
    async def list_invitations(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> InvitationPage:
        return await _accounts(control_plane).invitations.list(caller, team_id, limit, offset)

    @delete(
        "/{team_id:str}/invitations/{invitation_id:str}",
        summary="Revoke an open invitation (owner)",
        responses=DOCUMENTED,
    )
    async def revoke_invitation(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        team_id: FromPath[str],
        invitation_id: FromPath[str],
    ) -> None:
        await _accounts(control_plane).invitations.revoke(caller, team_id, invitation_id)
