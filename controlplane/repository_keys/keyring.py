"""`RepositoryKeyring`: the master key and the two things done with it — seal a new
instance's secret, open an instance's stored one."""

from __future__ import annotations

import secrets
from pathlib import Path

from .master_key import MASTER_KEY_BYTES, MasterKey
from .secret import RepositoryKey
from .wrapping import unwrap, wrap

EPHEMERAL_PATH = Path("<a key of this process only>")


class RepositoryKeyring:
    def __init__(self, master: MasterKey) -> None:
        self._master = master

    @classmethod
    def ephemeral(cls) -> RepositoryKeyring:
        """A master key of this process only: services built without Settings (tests)."""
        return cls(MasterKey(EPHEMERAL_PATH, secrets.token_bytes(MASTER_KEY_BYTES)))

    @property
    def master_key_path(self) -> Path:
        return self._master.path

    def new_wrapped(self, instance_id: str) -> bytes:
        """A fresh random secret for a new instance, sealed for its row."""
        return wrap(self._master, instance_id, RepositoryKey.generate())

    def open(self, instance_id: str, wrapped: bytes | None) -> RepositoryKey | None:
        """The instance's secret; None for an instance made before repository keys (its
        repository is unencrypted). Raises RepositoryKeyError when it does not open."""
        if wrapped is None:
            return None
        return unwrap(self._master, instance_id, wrapped)

    def __repr__(self) -> str:
        return f"RepositoryKeyring(master key {self._master.path})"
