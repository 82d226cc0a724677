"""Wrapping a repository secret for the database: AES-256-GCM under the master key.

Stored form (61 bytes): format 0x01 | 96-bit random nonce | ciphertext and tag. The
associated data names the instance (`torpor/repository-key/<instance id>`), so a wrapped
key copied onto another instance's row does not open there: a database writer cannot
hand one instance's repository to another's host by swapping columns.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import TorporError
from .master_key import MasterKey
from .secret import REPOSITORY_KEY_BYTES, RepositoryKey

WRAP_FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = 1 + NONCE_BYTES + REPOSITORY_KEY_BYTES + TAG_BYTES
ASSOCIATED_DATA_PREFIX = b"torpor/repository-key/"


class RepositoryKeyError(TorporError):
    """An instance's wrapped key does not open (another master key, a damaged row)."""


def associated_data(instance_id: str) -> bytes:
    return ASSOCIATED_DATA_PREFIX + instance_id.encode()


def wrap(master: MasterKey, instance_id: str, key: RepositoryKey) -> bytes:
    """The key sealed for `instance_id`'s row; a fresh nonce every time."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(master.secret).encrypt(nonce, key.reveal(), associated_data(instance_id))
    return bytes([WRAP_FORMAT]) + nonce + sealed


def unwrap(master: MasterKey, instance_id: str, wrapped: bytes) -> RepositoryKey:
    """The key `wrap` sealed for this instance. Raises RepositoryKeyError (one line naming
    the instance and the master key file) when it does not open."""
    if len(wrapped) != WRAPPED_BYTES or wrapped[0] != WRAP_FORMAT:
        raise RepositoryKeyError(
            f"the stored repository key of instance {instance_id} is damaged "
            f"({len(wrapped)} bytes, format {wrapped[:1].hex() or 'none'})"
        )
    nonce, sealed = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    try:
        secret = AESGCM(master.secret).decrypt(nonce, sealed, associated_data(instance_id))
    except InvalidTag:
        raise RepositoryKeyError(
            f"the repository key of instance {instance_id} does not open with the master key "
            f"{master.path}: it was wrapped by another key file (or the row was altered)"
        ) from None
    return RepositoryKey(secret)
