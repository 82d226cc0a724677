"""The keys as the database holds them: an instance's secret looked up by id (for code that
knows only the id, like a provider's snapshot maintenance), and the start-up check that
the master key is the one the stored keys were sealed with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import InstanceRow
from .keyring import RepositoryKeyring
from .master_key import MasterKeyError
from .secret import RepositoryKey
from .wrapping import RepositoryKeyError


class InstanceKeys:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], keyring: RepositoryKeyring
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring

    async def of(self, instance_id: str) -> RepositoryKey | None:
        """The instance's secret, deleted instances included (their repositories are
        forgotten after the delete); None: unknown, or unencrypted.

        Raises RepositoryKeyError when the stored key does not open."""
        async with self._sessions() as session:
            wrapped = await session.scalar(
                select(InstanceRow.wrapped_repository_key).where(InstanceRow.id == instance_id)
            )
        return self._keyring.open(instance_id, wrapped)


async def check_master_key(
    sessions: async_sessionmaker[AsyncSession], keyring: RepositoryKeyring
) -> None:
    """Opens the newest instance's stored key. A control plane started with another master
    key (a lost file made anew, a second control plane with a key of its own) stops here
    with one line, instead of failing every placement and sealing new keys nobody else
    can open.

    Raises MasterKeyError."""
    async with sessions() as session:
        newest = (
            await session.execute(
                select(InstanceRow.id, InstanceRow.wrapped_repository_key)
                .where(InstanceRow.wrapped_repository_key.is_not(None))
                .order_by(InstanceRow.created_at.desc())
                .limit(1)
            )
        ).first()
    if newest is None:
        return
    try:
        keyring.open(newest[0], newest[1])
    except RepositoryKeyError as err:
        raise MasterKeyError(
            f"{err.message}; start with the key file the instances were created with"
        ) from None
