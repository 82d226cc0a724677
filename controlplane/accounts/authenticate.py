"""Turns a bearer token (a JWT access token or an API key) into a Caller.

Everything that can change after a token was issued is read again on every request: the
session (revoked?), the user (disabled? operator?), the membership and its role.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import ApiKeyRow, SessionRow, UserRow
from ..errors import Unauthenticated
from ..identity import tokens
from .access_tokens import AccessTokens
from .caller import Caller, Role
from .queries import current_membership, membership

LAST_USED_PRECISION = timedelta(seconds=60)
"""Recording every use would turn each read into a write; a minute's precision is plenty."""
SIGN_IN = (
    "sign in: send `Authorization: Bearer <token>` with an access token from "
    "POST /api/v1/auth/login or an API key (tak_…)"
)


class Authenticator:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], access_tokens: AccessTokens
    ) -> None:
        self._sessions = sessions
        self._access = access_tokens

    async def caller(self, token: str | None) -> Caller:
        """The Caller for `token`; Unauthenticated when missing, expired, revoked or wrong."""
        if not token:
            raise Unauthenticated(SIGN_IN)
        if token.startswith(tokens.API_KEY_PREFIX):
            return await self._by_api_key(token)
        return await self._by_access_token(token)

    async def _by_access_token(self, token: str) -> Caller:
        claims = self._access.decode(token)
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.get(SessionRow, claims.session_id)
            if (
                row is None
                or row.user_id != claims.user_id
                or row.revoked_at is not None
                or row.expires_at <= now
            ):
                raise Unauthenticated("this session has ended: log in again")
            user = await _active_user(session, claims.user_id)
            member = await current_membership(session, user)
            _touch(row, now)
            return _caller(user, member.team_id, member.role, session_id=row.id)

    async def _by_api_key(self, key: str) -> Caller:
        key_id = tokens.split(key, tokens.API_KEY_PREFIX)
        now = utc_now()
        async with self._sessions.begin() as session:
            row = await session.get(ApiKeyRow, key_id) if key_id else None
            if (
                row is None
                or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
                or not tokens.matches(key, row.key_hash)
            ):
                raise Unauthenticated("API key not accepted: it is unknown, revoked or expired")
            user = await _active_user(session, row.user_id)
            member = await membership(session, row.team_id, user.id)
            if member is None:
                raise Unauthenticated(
                    "this API key's user is no longer a member of its team: create a new key"
                )
            _touch(row, now)
            return _caller(user, row.team_id, member.role, api_key_id=row.id)


async def _active_user(session: AsyncSession, user_id: str) -> UserRow:
    user = await session.get(UserRow, user_id)
    if user is None or user.disabled_at is not None:
        raise Unauthenticated("this account is disabled or gone")
    return user


def _touch(row: SessionRow | ApiKeyRow, now: datetime) -> None:
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now


def _caller(
    user: UserRow,
    team_id: str,
    role: str,
    session_id: str | None = None,
    api_key_id: str | None = None,
) -> Caller:
    return Caller(
        user_id=user.id,
        email=user.email,
        team_id=team_id,
        role=Role(role),
        is_operator=user.is_operator,
        session_id=session_id,
        api_key_id=api_key_id,
    )
