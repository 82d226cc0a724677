"""Queries several account services share: memberships, the current team, pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from torpor.common.timestamps import utc_now

from ..db.models import MembershipRow, TeamRow, UserRow
from ..identity import tokens
from .caller import Role
from .schemas import UserView

T = TypeVar("T")
MAX_PAGE_SIZE = 200


def new_team_id() -> str:
    return tokens.new_id("team_", 8)


def user_view(row: UserRow) -> UserView:
    return UserView(row.id, row.email, row.display_name, row.is_operator, row.created_at)


async def membership(session: AsyncSession, team_id: str, user_id: str) -> MembershipRow | None:
    return await session.get(MembershipRow, (team_id, user_id))


async def add_team(
    session: AsyncSession, name: str, owner_id: str, now: datetime | None = None
) -> TeamRow:
    """A new team with `owner_id` as its owner (the caller's transaction commits it)."""
    moment = now or utc_now()
    team = TeamRow(id=new_team_id(), name=name, created_at=moment, created_by=owner_id)
    session.add(team)
    await session.flush()
    session.add(MembershipRow(team_id=team.id, user_id=owner_id, role=Role.OWNER, joined_at=moment))
    await session.flush()
    return team


def personal_team_name(user: UserRow) -> str:
    return f"{user.display_name or user.email.partition('@')[0]}'s team"


async def current_membership(session: AsyncSession, user: UserRow) -> MembershipRow:
    """The user's membership in their current team, repaired when it went away.

    A user removed from their current team falls back to the team they joined first; one
    left with no team at all gets a new personal team, so every user can act somewhere.
    """
    if user.current_team_id is not None:
        found = await membership(session, user.current_team_id, user.id)
        if found is not None:
            return found
    first = await session.scalar(
        select(MembershipRow)
        .where(MembershipRow.user_id == user.id)
        .order_by(MembershipRow.joined_at, MembershipRow.team_id)
        .limit(1)
    )
    if first is None:
        team = await add_team(session, personal_team_name(user), user.id)
        first = await membership(session, team.id, user.id)
        assert first is not None
    user.current_team_id = first.team_id
    return first


async def owner_count(session: AsyncSession, team_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(MembershipRow)
        .where(MembershipRow.team_id == team_id, MembershipRow.role == Role.OWNER)
    )
    return int(count or 0)


async def page_of(
    session: AsyncSession, query: Select[T], limit: int, offset: int
) -> tuple[Sequence[T], int]:
    """One page of `query` (already ordered) and the total count of its rows."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.limit(limit).offset(offset))).all()
    return rows, int(total or 0)


async def page_rows(
    session: AsyncSession, query: Select[*tuple[Any, ...]], limit: int, offset: int
) -> tuple[Sequence[Any], int]:
    """`page_of` for a query of several columns (rows are tuples)."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.execute(query.limit(limit).offset(offset))).all()
    return rows, int(total or 0)
