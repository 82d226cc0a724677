"""API keys `tak_<id>.<secret>` for programs: shown once, stored hashed, bound to one team.

A key acts as its user within its team, with the role the user has there *now* (read on
every request): a key whose user left the team stops working.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import ApiKeyRow
from ..errors import InvalidArgument, NotFound
from ..identity import tokens
from .caller import Caller
from .queries import page_of
from .schemas import ApiKeyPage, ApiKeyView, CreatedApiKey

API_KEY_PREFIX = tokens.API_KEY_PREFIX
MAX_NAME = 255


class ApiKeyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, caller: Caller, name: str, expires_in_s: float | None = None
    ) -> CreatedApiKey:
        """A key for the caller in their current team; the key is in this response only."""
        if not name.strip() or len(name) > MAX_NAME:
            raise InvalidArgument(f"name must be 1 to {MAX_NAME} characters", field="name")
        now = utc_now()
        key_id = tokens.new_id("", 8)
        key = tokens.compose(API_KEY_PREFIX, key_id, tokens.new_secret())
        expires_at = None if expires_in_s is None else now + timedelta(seconds=expires_in_s)
        row = ApiKeyRow(
            id=key_id,
            user_id=caller.user_id,
            team_id=caller.team_id,
            name=name.strip(),
            key_hash=tokens.hash_secret(key),
            created_at=now,
            expires_at=expires_at,
        )
        async with self._sessions.begin() as session:
            session.add(row)
        view = _view(row)
        return CreatedApiKey(
            view.id, view.name, view.team_id, view.prefix, view.created_at, view.expires_at, key
        )

    async def list(self, user_id: str, limit: int, offset: int) -> ApiKeyPage:
        """The user's keys that still work (every team's), newest first."""
        now = utc_now()
        query = (
            select(ApiKeyRow)
            .where(
                ApiKeyRow.user_id == user_id,
                ApiKeyRow.revoked_at.is_(None),
                (ApiKeyRow.expires_at.is_(None)) | (ApiKeyRow.expires_at > now),
            )
            .order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id)
        )
        async with self._sessions() as session:
            rows, total = await page_of(session, query, limit, offset)
            return ApiKeyPage([_view(row) for row in rows], total, limit, offset)

    async def revoke(self, user_id: str, key_id: str) -> None:
        """Revokes one of the user's keys; NotFound for anyone else's."""
        async with self._sessions.begin() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                raise NotFound(f"no API key {key_id} of yours is active")
            row.revoked_at = utc_now()


def _view(row: ApiKeyRow) -> ApiKeyView:
    return ApiKeyView(
        row.id, row.name, row.team_id, f"{API_KEY_PREFIX}{row.id}", row.created_at,
        row.expires_at, row.last_used_at,
    )  # fmt: skip
