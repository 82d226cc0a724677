"""What the identity services return: plain data, no ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JoinTokenInfo:
    """A join token as an operator lists it (the secret itself is never stored)."""

    id: str
    note: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by_host_id: str | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= now else "valid"


@dataclass(frozen=True)
class Redemption:
    """The answer to a join: the host's id and its credential (shown once)."""

    host_id: str
    credential: str
    new_host: bool


@dataclass(frozen=True)
class AdminPrincipal:
    """The operator behind an admin token."""

    token_id: str
    name: str
