"""Encryption at rest for snapshot repositories (format version 2); see docs/snapshot-encryption.md.

The engine holds one RepositoryCipher per open repository, got from the master key that
`open_master_key` unwraps with a passphrase or key file; nothing else here is needed on the
data path. Key management (`snapshot key add|list|remove`) is the keyring functions.
"""

from __future__ import annotations

from .cipher import RepositoryCipher
from .errors import (
    CryptoError,
    KeyFileError,
    KeyObjectInvalid,
    KeyRemovalRefused,
    SealedObjectInvalid,
    WrongKey,
)
from .kdf import Argon2idParams, KeyFileKdf
from .kek import KeyEncryptionKey, KeyFile, Passphrase
from .key_object import KEY_PREFIX, key_object_key
from .keyring import KeyInfo, Unlocked, add_key, init_keys, list_keys, remove_key
from .keys import MasterKey
from .sealing import SEAL_OVERHEAD_BYTES, ObjectKind, looks_sealed, sealed_length
from .unlock import open_master_key, rotate_key

__all__ = [
    "KEY_PREFIX",
    "SEAL_OVERHEAD_BYTES",
    "Argon2idParams",
    "CryptoError",
    "KeyEncryptionKey",
    "KeyFile",
    "KeyFileError",
    "KeyFileKdf",
    "KeyInfo",
    "KeyObjectInvalid",
    "KeyRemovalRefused",
    "MasterKey",
    "ObjectKind",
    "Passphrase",
    "RepositoryCipher",
    "SealedObjectInvalid",
    "Unlocked",
    "WrongKey",
    "add_key",
    "init_keys",
    "key_object_key",
    "list_keys",
    "looks_sealed",
    "open_master_key",
    "remove_key",
    "rotate_key",
    "sealed_length",
]
