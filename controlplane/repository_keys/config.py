"""The keyring `Settings` ask for, so services need not know about Settings."""

from __future__ import annotations

from ..settings import Settings
from .keyring import RepositoryKeyring
from .master_key import load_master_key


def keyring_from(settings: Settings) -> RepositoryKeyring:
    """The configured master key file's keyring; the default file is made on first use.

    Raises MasterKeyError (one line: the file, what is wrong, how to fix it)."""
    path = settings.repository_master_key_path()
    create = settings.repository_master_key_file is None
    return RepositoryKeyring(load_master_key(path, create=create))
