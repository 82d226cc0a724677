"""Errors of the encryption layer: each `str()` is one line naming the object and the fix.

They derive from SnapshotError so the CLI reports them as it reports every snapshot failure;
a sealed object that does not open is also an IntegrityError, so the engine's existing
"stored data does not match" handling catches it without knowing about encryption.
"""

from __future__ import annotations

from ..errors import IntegrityError, SnapshotError


class CryptoError(SnapshotError):
    """Base of every failure of this package (bad input, refused operation, damaged key)."""


class WrongKey(CryptoError):
    """No key object of the repository opens with the passphrase or key file given."""


class KeyObjectInvalid(CryptoError):
    """A key object cannot be decoded or is out of bounds (damaged, or written by an attacker)."""


class KeyFileError(CryptoError):
    """A key file is missing, unreadable, malformed, or readable by others."""


class KeyRemovalRefused(CryptoError):
    """Removing this key would lock the repository (the last key, or the one in use)."""


class SealedObjectInvalid(CryptoError, IntegrityError):
    """A sealed object does not open: damaged, truncated, or not what is stored under its name."""
