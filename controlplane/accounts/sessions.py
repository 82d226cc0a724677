"""Login sessions: a refresh token (`trt_<session id>.<secret>`, only its hash stored) that
mints short-lived access tokens. Each refresh rotates the secret; presenting a secret that
was already rotated away means it leaked, so the whole session is revoked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import SessionRow, UserRow
from ..errors import NotFound, Unauthenticated
from ..identity import tokens
from .access_tokens import AccessTokens
from .queries import current_membership, page_of, user_view
from .schemas import AccessTokenView, SessionPage, SessionView, TokenPair

REFRESH_TOKEN_PREFIX = "trt_"  # noqa: S105 - a prefix, not a secret
MAX_USER_AGENT = 255
MAX_ADDRESS = 64
LOG_IN_AGAIN = "log in again (POST /api/v1/auth/login)"


class LoginSessionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        access_tokens: AccessTokens,
        session_ttl_s: float,
    ) -> None:
        self._sessions = sessions
        self._access = access_tokens
        self._ttl = timedelta(seconds=session_ttl_s)

    async def start(self, user_id: str, user_agent: str = "", address: str = "") -> TokenPair:
        """A new session for a user who just proved who they are."""
        now = utc_now()
        session_id = tokens.new_id("s_", 8)
        refresh = tokens.compose(REFRESH_TOKEN_PREFIX, session_id, tokens.new_secret())
        async with self._sessions.begin() as session:
            user = await session.get(UserRow, user_id)
            if user is None:
                raise Unauthenticated(f"the user is gone: {LOG_IN_AGAIN}")
            team = await current_membership(session, user)
            session.add(
                SessionRow(
                    id=session_id,
                    user_id=user_id,
                    refresh_hash=tokens.hash_secret(refresh),
                    user_agent=user_agent[:MAX_USER_AGENT],
                    address=address[:MAX_ADDRESS],
                    created_at=now,
                    expires_at=now + self._ttl,
                    last_used_at=now,
                )
            )
            view, team_id = user_view(user), team.team_id
        access = self._access.issue(user_id, session_id, team_id, now)
        return TokenPair(
            access.token, "bearer", access.expires_in_s, access.expires_at, refresh,
            session_id, view, team_id,
        )  # fmt: skip

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new access token and a new refresh token; the old refresh token stops working."""
        session_id = tokens.split(refresh_token, REFRESH_TOKEN_PREFIX)
        if session_id is None:
            raise Unauthenticated(f"not a refresh token: {LOG_IN_AGAIN}", field="refresh_token")
        now = utc_now()
        new_refresh = tokens.compose(REFRESH_TOKEN_PREFIX, session_id, tokens.new_secret())
        async with self._sessions.begin() as session:
            row = await session.get(SessionRow, session_id)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise Unauthenticated(f"this session has ended: {LOG_IN_AGAIN}")
            reused = not tokens.matches(refresh_token, row.refresh_hash)
            if reused:
                row.revoked_at = now  # a rotated-away secret came back: it was copied
            else:
                row.refresh_hash = tokens.hash_secret(new_refresh)
                row.last_used_at = now
                user = await session.get(UserRow, row.user_id)
                if user is None or user.disabled_at is not None:
                    raise Unauthenticated(f"the account is disabled: {LOG_IN_AGAIN}")
                team_id = (await current_membership(session, user)).team_id
                view = user_view(user)
        if reused:  # raised after the commit, so the revocation sticks
            raise Unauthenticated(
                f"this refresh token was already used; the session is revoked: {LOG_IN_AGAIN}"
            )
        access = self._access.issue(view.id, session_id, team_id, now)
        return TokenPair(
            access.token, "bearer", access.expires_in_s, access.expires_at, new_refresh,
            session_id, view, team_id,
        )  # fmt: skip

    def access_token(self, user_id: str, session_id: str, team_id: str) -> AccessTokenView:
        """A fresh access token for a live session (after switching teams, for one)."""
        issued = self._access.issue(user_id, session_id, team_id)
        return AccessTokenView(issued.token, "bearer", issued.expires_in_s, issued.expires_at)

    async def list(
        self, user_id: str, current_session_id: str | None, limit: int, offset: int
    ) -> SessionPage:
        """The user's live sessions, newest first."""
        now = utc_now()
        query = (
            select(SessionRow)
            .where(
                SessionRow.user_id == user_id,
                SessionRow.revoked_at.is_(None),
                SessionRow.expires_at > now,
            )
            .order_by(SessionRow.created_at.desc(), SessionRow.id)
        )
        async with self._sessions() as session:
            rows, total = await page_of(session, query, limit, offset)
            items = [_view(row, current_session_id) for row in rows]
        return SessionPage(items, total, limit, offset)

    async def revoke(self, user_id: str, session_id: str) -> None:
        """Ends one of the user's sessions; NotFound for anyone else's (ids do not leak)."""
        async with self._sessions.begin() as session:
            row = await session.get(SessionRow, session_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                raise NotFound(f"no session {session_id} of yours is active")
            row.revoked_at = utc_now()

    async def revoke_all(self, user_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(SessionRow)
                .where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )


def _view(row: SessionRow, current_session_id: str | None) -> SessionView:
    return SessionView(
        row.id, row.user_agent, row.address, row.created_at, row.expires_at, row.last_used_at,
        row.id == current_session_id,
    )  # fmt: skip
