"""Join tokens: made by an operator, redeemed once by an agent for a host credential."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from torpor.common.timestamps import utc_now

from ..db.models import HOST_DISCONNECTED, HostRow, JoinTokenRow
from ..errors import InvalidArgument, NotFound, Unauthenticated
from . import tokens
from .host_credentials import apply_credential, issue_credential
from .schemas import JoinTokenInfo, Redemption

MAX_NOTE_LENGTH = 255
"""The column's width."""


def _refused(reason: str) -> Unauthenticated:
    """The reason only: the client knows where its operator puts a new token."""
    return Unauthenticated(reason, field="join_token")


class JoinTokenService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, ttl_s: float, note: str = "") -> str:
        """A new `tjt_…` token valid for `ttl_s` seconds, returned once."""
        return (await self.issue(ttl_s, note))[0]

    async def issue(self, ttl_s: float, note: str = "") -> tuple[str, JoinTokenInfo]:
        """`create`, with the token's listing (its id, to revoke it by)."""
        if ttl_s <= 0:
            raise InvalidArgument("a join token's TTL must be positive", field="ttl")
        if len(note) > MAX_NOTE_LENGTH:
            raise InvalidArgument(f"note: at most {MAX_NOTE_LENGTH} characters", field="note")
        token = tokens.JOIN_TOKEN_PREFIX + tokens.new_secret()
        now = utc_now()
        row = JoinTokenRow(
            id=tokens.new_id("", 6),
            token_hash=tokens.hash_secret(token),
            note=note,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return token, _info(row)

    async def redeemed_by(self, token: str) -> str | None:
        """The id of the host `token` created, None while it is unused (or unknown)."""
        async with self._sessions() as session:
            host_id: str | None = await session.scalar(
                select(JoinTokenRow.used_by_host_id).where(
                    JoinTokenRow.token_hash == tokens.hash_secret(token)
                )
            )
        return host_id

    async def list(self) -> list[JoinTokenInfo]:
        """Every token, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(select(JoinTokenRow).order_by(JoinTokenRow.created_at))
            return [_info(row) for row in rows]

    async def revoke(self, token_id: str) -> JoinTokenInfo:
        """Stops a token from being redeemed (or retried); NotFound for an unknown id."""
        async with self._sessions.begin() as session:
            row = await session.get(JoinTokenRow, token_id)
            if row is None:
                raise NotFound(f"no join token with id {token_id!r}", field="id")
            if row.revoked_at is None:
                row.revoked_at = utc_now()
            return _info(row)

    async def redeem(self, token: str, hostname: str, nonce: str) -> Redemption:
        """Exchanges a token for a host credential, in one transaction.

        The first redemption creates the host. The same token with the same nonce again
        (an agent retrying after a lost reply) gets a fresh credential for that same host,
        even past the expiry, because the token was redeemed in time. Anything else is
        refused with Unauthenticated telling the operator to create a new token.
        """
        if not nonce:
            raise InvalidArgument("join_nonce is required", field="join_nonce")
        token_hash, nonce_hash = tokens.hash_secret(token), tokens.hash_secret(nonce)
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(JoinTokenRow).where(JoinTokenRow.token_hash == token_hash)
            )
            now = utc_now()
            _check_usable(row, nonce_hash, now)
            assert row is not None  # _check_usable refuses a missing row
            if row.used_at is None and await _claim(session, row, nonce_hash, now):
                return await _create_host(session, row, hostname or "unknown", now)
            await session.refresh(row)
            _check_usable(row, nonce_hash, now)
            return await _reissue(session, row, now)


def _check_usable(row: JoinTokenRow | None, nonce_hash: str, now: datetime) -> None:
    if row is None:
        raise _refused("join token not recognised")
    if row.revoked_at is not None:
        raise _refused(f"join token was revoked at {row.revoked_at.isoformat()}")
    if row.used_at is not None:
        if row.join_nonce_hash is None or not tokens.matches_hash(nonce_hash, row.join_nonce_hash):
            raise _refused("join token already used by another host")
        return
    if row.expires_at <= now:
        raise _refused(f"join token expired at {row.expires_at.isoformat()}")


async def _claim(session: AsyncSession, row: JoinTokenRow, nonce_hash: str, now: datetime) -> bool:
    """Marks the token used, unless a concurrent join got there first (then False).

    A conditional UPDATE rather than read-then-write: it takes the write lock at once and
    only one of two racing joins can match `used_at IS NULL`.
    """
    result = await session.execute(
        update(JoinTokenRow)
        .where(JoinTokenRow.id == row.id, JoinTokenRow.used_at.is_(None))
        .values(used_at=now, join_nonce_hash=nonce_hash)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _create_host(
    session: AsyncSession, token: JoinTokenRow, hostname: str, now: datetime
) -> Redemption:
    host_id = tokens.new_host_id()
    issued = issue_credential(host_id)
    host = HostRow(id=host_id, hostname=hostname, state=HOST_DISCONNECTED, joined_at=now)
    host.agent_version, host.os, host.labels, host.gpus = "", "", {}, []
    apply_credential(host, issued, now)
    session.add(host)
    await session.flush()
    await session.execute(
        update(JoinTokenRow)
        .where(JoinTokenRow.id == token.id)
        .values(used_by_host_id=host_id)
        .execution_options(synchronize_session=False)
    )
    return Redemption(host_id=host_id, credential=issued.credential, new_host=True)


async def _reissue(session: AsyncSession, token: JoinTokenRow, now: datetime) -> Redemption:
    host = await session.get(HostRow, token.used_by_host_id) if token.used_by_host_id else None
    if host is None:
        raise _refused("the host this join token created no longer exists")
    issued = issue_credential(host.id)
    apply_credential(host, issued, now)
    return Redemption(host_id=host.id, credential=issued.credential, new_host=False)


def _info(row: JoinTokenRow) -> JoinTokenInfo:
    return JoinTokenInfo(
        id=row.id,
        note=row.note,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        used_by_host_id=row.used_by_host_id,
        revoked_at=row.revoked_at,
    )
