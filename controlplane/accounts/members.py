"""A team's members: listing, adding, removing (or leaving), and changing roles.

A team always keeps an owner: the last one can neither leave, be removed nor be demoted
(FailedPrecondition, 409, saying what to do instead).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import MembershipRow, UserRow
from ..errors import Conflict, FailedPrecondition, NotFound
from .caller import ALL_ROLES, MANAGE_TEAM, Caller, Role
from .queries import membership, owner_count, page_rows
from .schemas import MemberPage, MemberView
from .teams import member_of, member_with_role
from .users import normalize_email

LAST_OWNER = (
    "a team needs an owner: make another member owner first "
    "(PUT /api/v1/teams/{team}/members/{user}/role), or delete the team"
)


def _member_view(user: UserRow, row: MembershipRow) -> MemberView:
    return MemberView(user.id, user.email, user.display_name, Role(row.role), row.joined_at)


class MemberService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list(self, caller: Caller, team_id: str, limit: int, offset: int) -> MemberPage:
        query = (
            select(UserRow, MembershipRow)
            .join(MembershipRow, MembershipRow.user_id == UserRow.id)
            .where(MembershipRow.team_id == team_id)
            .order_by(MembershipRow.joined_at, UserRow.id)
        )
        async with self._sessions() as session:
            await member_with_role(session, caller, team_id, ALL_ROLES, "listing members")
            rows, total = await page_rows(session, query, limit, offset)
            items = [_member_view(user, row) for user, row in rows]
        return MemberPage(items, total, limit, offset)

    async def add(self, caller: Caller, team_id: str, email: str, role: Role) -> MemberView:
        """Adds a registered user directly (people without an account get an invitation)."""
        address = normalize_email(email)
        async with self._sessions.begin() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "adding members")
            user = await session.scalar(select(UserRow).where(UserRow.email == address))
            if user is None:
                raise NotFound(
                    f"no user with email {address}: invite them instead "
                    f"(POST /api/v1/teams/{team_id}/invitations)",
                    field="email",
                )
            if await membership(session, team_id, user.id) is not None:
                raise Conflict(f"{address} is already a member of this team", field="email")
            row = MembershipRow(team_id=team_id, user_id=user.id, role=role, joined_at=utc_now())
            session.add(row)
            return _member_view(user, row)

    async def remove(self, caller: Caller, team_id: str, user_id: str) -> None:
        """Removes a member; removing yourself is leaving, which any role may do."""
        async with self._sessions.begin() as session:
            if user_id == caller.user_id:
                target = await member_of(session, caller, team_id)
            else:
                await member_with_role(session, caller, team_id, MANAGE_TEAM, "removing members")
                target = await _member(session, team_id, user_id)
            if target.role == Role.OWNER and await owner_count(session, team_id) <= 1:
                raise FailedPrecondition(f"you are the last owner of this team: {LAST_OWNER}")
            await session.delete(target)

    async def set_role(self, caller: Caller, team_id: str, user_id: str, role: Role) -> MemberView:
        async with self._sessions.begin() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "changing roles")
            target = await _member(session, team_id, user_id)
            demoting_owner = target.role == Role.OWNER and role != Role.OWNER
            if demoting_owner and await owner_count(session, team_id) <= 1:
                raise FailedPrecondition(f"this is the last owner of the team: {LAST_OWNER}")
            target.role = role
            user = await session.get(UserRow, user_id)
            assert user is not None
            return _member_view(user, target)


async def _member(session: AsyncSession, team_id: str, user_id: str) -> MembershipRow:
    found = await membership(session, team_id, user_id)
    if found is None:
        raise NotFound(f"no member {user_id} in team {team_id}", field="user_id")
    return found
