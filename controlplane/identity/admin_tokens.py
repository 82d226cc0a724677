"""Admin tokens `tat_<id>.<secret>`: operators' bearer tokens for AdminService and HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import AdminTokenRow
from ..errors import InvalidArgument, NotFound, Unauthenticated
from . import tokens
from .schemas import AdminPrincipal

# Recording every use would turn each read request into a write; a minute's precision is plenty.
LAST_USED_PRECISION = timedelta(seconds=60)
CREATE_HINT = "create one on the server with `torpor-controlplane admin-tokens create NAME`"


class AdminTokenService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, name: str) -> str:
        """A new token for `name`, returned once; only its hash is kept."""
        if not name.strip():
            raise InvalidArgument("an admin token needs a name", field="name")
        token_id = tokens.new_id("", 6)
        token = tokens.compose(tokens.ADMIN_TOKEN_PREFIX, token_id, tokens.new_secret())
        row = AdminTokenRow(
            id=token_id,
            name=name.strip(),
            token_hash=tokens.hash_secret(token),
            created_at=utc_now(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return token

    async def authenticate(self, token: str | None) -> AdminPrincipal:
        """The operator holding `token`; Unauthenticated when it is missing, wrong or revoked."""
        token_id = tokens.split(token or "", tokens.ADMIN_TOKEN_PREFIX)
        if token is None or token_id is None:
            raise Unauthenticated(f"an admin token is required (Bearer tat_…): {CREATE_HINT}")
        async with self._sessions.begin() as session:
            row = await session.get(AdminTokenRow, token_id)
            if row is None or row.revoked_at or not tokens.matches(token, row.token_hash):
                raise Unauthenticated(f"admin token not accepted: {CREATE_HINT}")
            now = utc_now()
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
                row.last_used_at = now
            return AdminPrincipal(token_id=row.id, name=row.name)

    async def revoke(self, token_id: str) -> None:
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(AdminTokenRow)
                .where(AdminTokenRow.id == token_id, AdminTokenRow.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            if result.rowcount == 0 and await session.get(AdminTokenRow, token_id) is None:  # type: ignore[attr-defined]
                raise NotFound(f"no admin token {token_id!r}")
