"""Making, hashing and parsing the three kinds of secret (design.md, "The identity scheme").

They are 256-bit random values, so a plain SHA-256 is enough (a slow password hash only
slows down guessing of low-entropy secrets). Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

JOIN_TOKEN_PREFIX = "tjt_"  # noqa: S105 - a prefix, not a secret
HOST_CREDENTIAL_PREFIX = "thc_"
ADMIN_TOKEN_PREFIX = "tat_"  # noqa: S105 - a prefix, not a secret
API_KEY_PREFIX = "tak_"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id(prefix: str, hex_bytes: int = 8) -> str:
    return f"{prefix}{secrets.token_hex(hex_bytes)}"


def new_host_id() -> str:
    return new_id("h-", 8)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(presented: str, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against a stored hash."""
    return hmac.compare_digest(hash_secret(presented), stored_hash)


def compose(prefix: str, owner_id: str, secret: str) -> str:
    """`<prefix><id>.<secret>`: the id lets the server find the row without a scan."""
    return f"{prefix}{owner_id}.{secret}"


def split(value: str, prefix: str) -> str | None:
    """The id inside `<prefix><id>.<secret>`, or None when the value has another shape."""
    if not value.startswith(prefix):
        return None
    owner_id, dot, secret = value[len(prefix) :].partition(".")
    if not owner_id or not dot or not secret:
        return None
    return owner_id


def bearer(header_value: str | None) -> str | None:
    """The token in an `authorization: Bearer <token>` value."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def matches_hash(presented_hash: str, stored_hash: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(presented_hash, stored_hash)
