"""The accounts' knobs in one frozen object, so services need not know about Settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..settings import Settings
from .jwt_secret import load_or_create_secret


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


def accounts_config(settings: Settings) -> AccountsConfig:
    """The config for `settings`; may create `<state dir>/jwt.secret` on first use."""
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        secret = settings.jwt_secret.get_secret_value()
    else:
        secret = load_or_create_secret(settings.state_dir)
    return AccountsConfig(
        jwt_secret=secret,
        access_token_ttl_s=settings.access_token_ttl_s,
        session_ttl_s=settings.session_ttl_s,
        invitation_ttl_s=settings.invitation_ttl_s,
        password_hash_time_cost=settings.password_hash_time_cost,
        password_hash_memory_kib=settings.password_hash_memory_kib,
        login_rate_per_minute=settings.login_rate_per_minute,
        login_address_rate_per_minute=settings.login_address_rate_per_minute,
        register_rate_per_minute=settings.register_rate_per_minute,
        api_key_rate_per_minute=settings.api_key_rate_per_minute,
    )
