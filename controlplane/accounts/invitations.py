"""Invitations: an owner invites an email address with a role; the user who registers (or
is registered) with that address accepts with the one-time token and joins the team."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import InvitationRow, MembershipRow
from ..errors import Conflict, NotFound, PermissionDenied
from ..identity import tokens
from .caller import MANAGE_TEAM, Caller, Role
from .queries import membership, page_of
from .schemas import CreatedInvitation, InvitationPage, InvitationView, TeamView
from .teams import member_with_role, team_view
from .users import normalize_email

INVITATION_PREFIX = "tin_"


def _view(row: InvitationRow) -> InvitationView:
    return InvitationView(
        row.id, row.team_id, row.email, Role(row.role), row.created_at, row.expires_at
    )


class InvitationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_s)

    async def create(
        self, caller: Caller, team_id: str, email: str, role: Role
    ) -> CreatedInvitation:
        """An invitation whose token is returned here only, for the owner to pass on."""
        address = normalize_email(email)
        now = utc_now()
        token = INVITATION_PREFIX + tokens.new_secret()
        row = InvitationRow(
            id=tokens.new_id("inv_", 8),
            team_id=team_id,
            email=address,
            role=role,
            token_hash=tokens.hash_secret(token),
            invited_by=caller.user_id,
            created_at=now,
            expires_at=now + self._ttl,
        )
        async with self._sessions.begin() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "inviting members")
            session.add(row)
        view = _view(row)
        return CreatedInvitation(
            view.id, view.team_id, view.email, view.role, view.created_at, view.expires_at, token
        )

    async def list(self, caller: Caller, team_id: str, limit: int, offset: int) -> InvitationPage:
        """Invitations of the team still waiting to be accepted, newest first."""
        query = (
            select(InvitationRow)
            .where(
                InvitationRow.team_id == team_id,
                InvitationRow.accepted_at.is_(None),
                InvitationRow.revoked_at.is_(None),
                InvitationRow.expires_at > utc_now(),
            )
            .order_by(InvitationRow.created_at.desc(), InvitationRow.id)
        )
        async with self._sessions() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "listing invitations")
            rows, total = await page_of(session, query, limit, offset)
            return InvitationPage([_view(row) for row in rows], total, limit, offset)

    async def revoke(self, caller: Caller, team_id: str, invitation_id: str) -> None:
        async with self._sessions.begin() as session:
            await member_with_role(session, caller, team_id, MANAGE_TEAM, "revoking invitations")
            row = await session.get(InvitationRow, invitation_id)
            if row is None or row.team_id != team_id or row.accepted_at or row.revoked_at:
                raise NotFound(f"no open invitation {invitation_id} in this team")
            row.revoked_at = utc_now()

    async def accept(self, caller: Caller, token: str) -> TeamView:
        """Joins the invited team with the invited role; the caller's email must match."""
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(InvitationRow).where(InvitationRow.token_hash == tokens.hash_secret(token))
            )
            if row is None or row.accepted_at or row.revoked_at or row.expires_at <= now:
                raise NotFound(
                    "no open invitation with this token: it was used, revoked or has expired; "
                    "ask the team's owner for a new one"
                )
            if row.email != caller.email:
                raise PermissionDenied(
                    "this invitation is for another email address: log in as the invited user"
                )
            if await membership(session, row.team_id, caller.user_id) is not None:
                raise Conflict("you are already a member of this team")
            joined = MembershipRow(
                team_id=row.team_id, user_id=caller.user_id, role=row.role, joined_at=now
            )
            session.add(joined)
            row.accepted_at, row.accepted_by = now, caller.user_id
            await session.flush()
            return await team_view(session, caller, joined)
