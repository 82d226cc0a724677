"""`RepositoryKey`: a repository's secret in a type that never prints it.

The secret travels through dataclasses, log calls and f-strings on its way to the wire;
a plain `bytes` would show up in the first `repr` of any of them. This wrapper's repr is
redacted, so the only way to the bytes is to ask for them by name (`reveal`, `hex`).
"""

from __future__ import annotations

import secrets

REPOSITORY_KEY_BYTES = 32
"""A "key file" key-encryption key of the agent's repository format: 32 random bytes."""


class RepositoryKey:
    """One instance's repository secret (32 bytes)."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != REPOSITORY_KEY_BYTES:
            raise ValueError(f"a repository key is {REPOSITORY_KEY_BYTES} bytes, not {len(secret)}")
        self._secret = bytes(secret)

    @classmethod
    def generate(cls) -> RepositoryKey:
        return cls(secrets.token_bytes(REPOSITORY_KEY_BYTES))

    def reveal(self) -> bytes:
        """The raw secret, for the one place it goes: a proto field to the agent."""
        return self._secret

    def hex(self) -> str:
        """64 lower-case hex characters: what the agent's CLI reads (`TORPOR_SNAPSHOT_KEY`)."""
        return self._secret.hex()

    def __repr__(self) -> str:
        return "RepositoryKey(<redacted>)"

    __str__ = __repr__
