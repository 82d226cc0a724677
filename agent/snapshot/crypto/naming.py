"""Object and chunk ids of an encrypted repository: keyed BLAKE3 of the plaintext.

Plain BLAKE3 ids would let anyone holding a file check whether a repository stores it
(hash the file, look for the id), and would match across repositories. Keyed under a
subkey of the master key, an id says nothing without that key, yet identical plaintext
still gets the same id inside one repository, so deduplication and idempotent writes keep
working. A metadata id cannot be the hash of its sealed bytes: the id is part of the
associated data, so it must be known before sealing. See docs/snapshot-encryption.md.
"""

from __future__ import annotations

import hmac

import blake3

from .sealing import ObjectKind


class Namer:
    """Computes chunk ids and metadata object ids under the repository's naming keys."""

    __slots__ = ("_chunk_key", "_naming_key")

    def __init__(self, chunk_id_key: bytes, naming_key: bytes) -> None:
        self._chunk_key = chunk_id_key
        self._naming_key = naming_key

    def __repr__(self) -> str:
        return "Namer(<redacted>)"

    def chunk_id(self, plaintext: bytes | memoryview) -> bytes:
        """The 32-byte id of a chunk (kept binary, like format.chunk_id)."""
        return blake3.blake3(plaintext, key=self._chunk_key).digest()

    def object_id(self, kind: ObjectKind, plaintext: bytes | memoryview) -> str:
        """The hex id of a metadata object; the kind is hashed in, so kinds never share ids."""
        hasher = blake3.blake3(key=self._naming_key)
        hasher.update(kind.value.encode() + b"\0")
        hasher.update(plaintext)
        return hasher.hexdigest()

    def matches(self, kind: ObjectKind, object_id: str, plaintext: bytes | memoryview) -> bool:
        """Whether `plaintext` is the content `object_id` names (compared in constant time)."""
        return hmac.compare_digest(self.object_id(kind, plaintext), object_id)
