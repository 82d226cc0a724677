"""Host credentials `thc_<host id>.<secret>`: issued at join, checked on every Connect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import HostRow
from ..errors import Unauthenticated
from . import tokens


@dataclass(frozen=True)
class IssuedCredential:
    credential: str
    credential_id: str
    credential_hash: str


def issue_credential(host_id: str) -> IssuedCredential:
    """A fresh credential for `host_id`; the caller stores its hash on the host row."""
    credential = tokens.compose(tokens.HOST_CREDENTIAL_PREFIX, host_id, tokens.new_secret())
    return IssuedCredential(credential, tokens.new_id("", 4), tokens.hash_secret(credential))


def apply_credential(row: HostRow, issued: IssuedCredential, now: datetime) -> None:
    """Replaces the host's credential: the previous one stops working at once."""
    row.credential_id = issued.credential_id
    row.credential_hash = issued.credential_hash
    row.credential_issued_at = now


class HostCredentialService:
    """Checks the credential an agent presents on Connect."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def authenticate_host(self, credential: str | None) -> str:
        """The host id the credential belongs to; Unauthenticated when it is not valid."""
        host_id = tokens.split(credential or "", tokens.HOST_CREDENTIAL_PREFIX)
        if credential is None or host_id is None:
            raise Unauthenticated("missing or malformed host credential")
        async with self._sessions() as session:
            row = await session.get(HostRow, host_id)
        if row is None or not tokens.matches(credential, row.credential_hash):
            raise Unauthenticated("host credential not accepted")
        return host_id
