"""Users: registration (with a personal team), password checks, and the operator flag
that only `torpor-controlplane operators` changes."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import UserRow
from ..errors import Conflict, InvalidArgument, NotFound, Unauthenticated
from ..identity import tokens
from .passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Passwords
from .queries import add_team, personal_team_name, user_view
from .schemas import UserView

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 320
WRONG_CREDENTIALS = "email or password is not right"


def normalize_email(email: str) -> str:
    """Lower-cased and trimmed; InvalidArgument(field=email) when it is not an address."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(value):
        raise InvalidArgument("email must be an address like name@example.com", field="email")
    return value


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long",
            field="password",
        )


class UserService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], passwords: Passwords) -> None:
        self._sessions = sessions
        self._passwords = passwords

    async def register(self, email: str, password: str, display_name: str = "") -> UserRow:
        """A new user owning a new personal team, which becomes their current team."""
        address = normalize_email(email)
        check_password(password)
        password_hash = await self._passwords.hash(password)
        try:
            async with self._sessions.begin() as session:
                if await self._by_email(session, address) is not None:
                    raise _taken()
                user = UserRow(
                    id=tokens.new_id("u_", 8),
                    email=address,
                    display_name=display_name.strip(),
                    password_hash=password_hash,
                    is_operator=False,
                    created_at=utc_now(),
                )
                session.add(user)
                await session.flush()
                team = await add_team(session, personal_team_name(user), user.id, user.created_at)
                user.current_team_id = team.id
        except IntegrityError:  # a concurrent registration of the same address won
            raise _taken() from None
        return user

    async def check_password(self, email: str, password: str) -> UserRow:
        """The user with these credentials; Unauthenticated (same words either way) if none."""
        address = email.strip().lower()
        async with self._sessions() as session:
            user = await self._by_email(session, address)
        if user is None or user.disabled_at is not None:
            await self._passwords.verify_nobody(password)
            raise Unauthenticated(WRONG_CREDENTIALS)
        if not await self._passwords.verify(user.password_hash, password):
            raise Unauthenticated(WRONG_CREDENTIALS)
        if self._passwords.needs_rehash(user.password_hash):
            await self._rehash(user.id, password)
        return user

    async def get(self, user_id: str) -> UserView:
        async with self._sessions() as session:
            user = await session.get(UserRow, user_id)
            if user is None:
                raise NotFound(f"no user {user_id}")
            return user_view(user)

    async def set_operator(self, email: str, is_operator: bool) -> UserView:
        """Grants or revokes the platform-operator role (server-side CLI only)."""
        async with self._sessions.begin() as session:
            user = await self._by_email(session, email.strip().lower())
            if user is None:
                raise NotFound(f"no user with email {email!r}: they must register first")
            user.is_operator = is_operator
            return user_view(user)

    async def operators(self) -> list[UserView]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(UserRow).where(UserRow.is_operator.is_(True)).order_by(UserRow.email)
            )
            return [user_view(row) for row in rows]

    async def _rehash(self, user_id: str, password: str) -> None:
        new_hash = await self._passwords.hash(password)
        async with self._sessions.begin() as session:
            user = await session.get(UserRow, user_id)
            if user is not None:
                user.password_hash = new_hash

    @staticmethod
    async def _by_email(session: AsyncSession, email: str) -> UserRow | None:
        return await session.scalar(select(UserRow).where(UserRow.email == email))


def _taken() -> Conflict:
    return Conflict("an account with this email already exists: log in instead", field="email")
