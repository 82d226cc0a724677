"""The accounts' knobs in one frozen object, so services need not know about Settings
(controlplane/configure.py fills it from them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class AccountsConfig:
    jwt_secret: str
    access_token_ttl_s: float = 900.0
    session_ttl_s: float = 30 * 86400.0
    invitation_ttl_s: float = 7 * 86400.0
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    login_rate_per_minute: int = 10
    login_address_rate_per_minute: int = 30
    register_rate_per_minute: int = 10
    api_key_rate_per_minute: int = 10

    @classmethod
    def ephemeral(cls) -> AccountsConfig:
        """Defaults with a per-process secret: services built without Settings (tests)."""
        return cls(jwt_secret=secrets.token_urlsafe(48))
