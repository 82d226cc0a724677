"""Each concern's configuration made from the control plane's `Settings`, so that no
concern's package needs to know the settings object (tests/layering.py keeps it so)."""

from __future__ import annotations

from .accounts.config import AccountsConfig
from .accounts.jwt_secret import load_or_create_secret
from .repository_keys.keyring import RepositoryKeyring
from .repository_keys.master_key import load_master_key
from .settings import Settings


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


def keyring_from(settings: Settings) -> RepositoryKeyring:
    """The configured master key file's keyring; the default file is made on first use.

    Raises MasterKeyError (one line: the file, what is wrong, how to fix it)."""
    path = settings.repository_master_key_path()
    create = settings.repository_master_key_file is None
    return RepositoryKeyring(load_master_key(path, create=create))
