"""Short-lived JWT access tokens (HS256). A token names its login session (`sid`); the
session row is checked on every request, so revoking the session ends the token at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from torpor.common.timestamps import utc_now

from ..errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "torpor"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "iss"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    team_id: str
    """The current team when the token was issued; the server re-reads it per request."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    expires_in_s: int


class AccessTokens:
    def __init__(self, secret: str, ttl_s: float) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_s)

    def issue(
        self, user_id: str, session_id: str, team_id: str, now: datetime | None = None
    ) -> IssuedToken:
        """A token valid for the TTL from `now` (a past `now` makes an expired one, for tests)."""
        issued_at = now or utc_now()
        expires_at = issued_at + self._ttl
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "sid": session_id,
            "team": team_id,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedToken(token, expires_at, int(self._ttl.total_seconds()))

    def decode(self, token: str) -> AccessClaims:
        """The claims of a valid token; Unauthenticated when expired, forged or malformed."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(
                "the access token has expired: get a new one from POST /api/v1/auth/refresh"
            ) from None
        except jwt.InvalidTokenError:
            raise Unauthenticated(
                "the access token is not valid: log in again (POST /api/v1/auth/login)"
            ) from None
        return AccessClaims(str(claims["sub"]), str(claims["sid"]), str(claims.get("team", "")))
