"""Teams: creating, renaming and deleting them, and switching the current one.

Access rules, the same everywhere: a team the caller is not a member of is NotFound (so
ids do not leak); a member whose role does not allow the action gets PermissionDenied
naming the roles that do. An API key only ever sees its own team.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import MembershipRow, TeamRow, UserRow
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from .caller import ALL_ROLES, MANAGE_TEAM, Caller, Role, check_role
from .queries import add_team, membership, page_rows
from .schemas import TeamPage, TeamView

MAX_TEAM_NAME = 255

DeletionCheck = Callable[[AsyncSession, str], Awaitable[str | None]]
"""Says why a team cannot be deleted now (e.g. "it has 2 live instances"), or None.
Runs inside the deleting transaction; hand them to `TeamService` at construction."""


def team_name(name: str) -> str:
    value = name.strip()
    if not value or len(value) > MAX_TEAM_NAME:
        raise InvalidArgument(f"name must be 1 to {MAX_TEAM_NAME} characters", field="name")
    return value


async def member_of(session: AsyncSession, caller: Caller, team_id: str) -> MembershipRow:
    """The caller's membership in `team_id`; NotFound when they have none (or use another
    team's API key)."""
    found = None
    if caller.api_key_id is None or caller.team_id == team_id:
        found = await membership(session, team_id, caller.user_id)
    if found is None:
        raise NotFound(f"no team {team_id} among your teams", field="team_id")
    return found


async def member_with_role(
    session: AsyncSession, caller: Caller, team_id: str, allowed: frozenset[Role], action: str
) -> MembershipRow:
    found = await member_of(session, caller, team_id)
    check_role(Role(found.role), allowed, action)
    return found


class TeamService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        deletion_checks: Sequence[DeletionCheck] = (),
    ) -> None:
        """`deletion_checks`: reasons to refuse deleting a team (the instances module
        gives one: a team with live instances stays)."""
        self._sessions = sessions
        self._deletion_checks = list(deletion_checks)

    async def create(self, caller: Caller, name: str) -> TeamView:
        """A new team owned by the caller (their current team stays as it was)."""
        value = team_name(name)
        if caller.api_key_id is not None:
            raise FailedPrecondition("an API key acts in one team only: log in to create teams")
        async with self._sessions.begin() as session:
            team = await add_team(session, value, caller.user_id)
            return TeamView(team.id, team.name, team.created_at, Role.OWNER, False, 1)

    async def list(self, caller: Caller, limit: int, offset: int) -> TeamPage:
        """The caller's teams, oldest membership first (an API key: its own team only)."""
        counts = (
            select(MembershipRow.team_id, func.count().label("n"))
            .group_by(MembershipRow.team_id)
            .subquery()
        )
        query = (
            select(TeamRow, MembershipRow.role, counts.c.n)
            .join(MembershipRow, MembershipRow.team_id == TeamRow.id)
            .join(counts, counts.c.team_id == TeamRow.id)
            .where(MembershipRow.user_id == caller.user_id)
            .order_by(MembershipRow.joined_at, TeamRow.id)
        )
        if caller.api_key_id is not None:
            query = query.where(TeamRow.id == caller.team_id)
        async with self._sessions() as session:
            rows, total = await page_rows(session, query, limit, offset)
            items = [
                TeamView(t.id, t.name, t.created_at, Role(role), t.id == caller.team_id, int(n))
                for t, role, n in rows
            ]
        return TeamPage(items, total, limit, offset)

    async def get(self, caller: Caller, team_id: str) -> TeamView:
        async with self._sessions() as session:
            found = await member_with_role(session, caller, team_id, ALL_ROLES, "seeing a team")
            return await team_view(session, caller, found)

    async def rename(self, caller: Caller, team_id: str, name: str) -> TeamView:
        value = team_name(name)
        async with self._sessions.begin() as session:
            found = await member_with_role(
                session, caller, team_id, MANAGE_TEAM, "renaming the team"
            )
            team = await session.get(TeamRow, team_id)
            assert team is not None
            team.name = value
            return await team_view(session, caller, found)

    async def delete(self, caller: Caller, team_id: str) -> None:
        """Deletes a team the caller owns, unless it is their only team or a check refuses."""
        async with self._sessions.begin() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "deleting the team")
            await self._refuse_deletion_if_needed(session, caller, team_id)
            await session.execute(
                update(UserRow)
                .where(UserRow.current_team_id == team_id)
                .values(current_team_id=None)
            )
            await session.execute(delete(MembershipRow).where(MembershipRow.team_id == team_id))
            await session.execute(delete(TeamRow).where(TeamRow.id == team_id))

    async def _refuse_deletion_if_needed(
        self, session: AsyncSession, caller: Caller, team_id: str
    ) -> None:
        teams_of_caller = await session.scalar(
            select(func.count())
            .select_from(MembershipRow)
            .where(MembershipRow.user_id == caller.user_id)
        )
        if int(teams_of_caller or 0) <= 1:
            raise FailedPrecondition(
                "this is your only team: create or join another team before deleting it"
            )
        for check in self._deletion_checks:
            reason = await check(session, team_id)
            if reason is not None:
                raise FailedPrecondition(f"the team cannot be deleted: {reason}")

    async def switch(self, caller: Caller, team_id: str) -> TeamView:
        """Makes `team_id` the user's current team: their sessions act in it from now on."""
        if caller.api_key_id is not None:
            raise FailedPrecondition(
                "an API key is bound to its team: create a key in the other team instead"
            )
        async with self._sessions.begin() as session:
            found = await member_of(session, caller, team_id)
            user = await session.get(UserRow, caller.user_id)
            assert user is not None
            user.current_team_id = team_id
            view = await team_view(session, caller, found)
        return TeamView(view.id, view.name, view.created_at, view.role, True, view.member_count)


async def team_view(session: AsyncSession, caller: Caller, found: MembershipRow) -> TeamView:
    team = await session.get(TeamRow, found.team_id)
    assert team is not None
    count = await session.scalar(
        select(func.count()).select_from(MembershipRow).where(MembershipRow.team_id == team.id)
    )
    return TeamView(
        team.id, team.name, team.created_at, Role(found.role), team.id == caller.team_id,
        int(count or 0),
    )  # fmt: skip
