"""The repository master key: one random secret, and the subkeys derived from it.

Only the 32-byte secret is ever stored (wrapped, in key objects); every working key is
derived from it with BLAKE3's key-derivation mode under a fixed context string, so the
sealing key, the chunk-id key, the naming key and the chunker seed are independent: knowing
one (a chunker seed recovered from chunk boundaries, say) says nothing about the others.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

import blake3

MASTER_KEY_BYTES: Final = 32
# pyfastcdc computes `seed << 1` into a uint64, so a seed must stay below 2**63; 0 means
# "the unkeyed gear table", which a repository with a secret must never fall back to.
CHUNKER_SEED_MAX: Final = 2**63 - 1

# Hard-coded, globally unique contexts (BLAKE3 spec, "derive_key"): never change them,
# or every existing encrypted repository stops opening.
_CONTEXT_SEALING: Final = "torpor snapshot repository v2 2026-01 object sealing key"
_CONTEXT_CHUNK_ID: Final = "torpor snapshot repository v2 2026-01 chunk id key"
_CONTEXT_NAMING: Final = "torpor snapshot repository v2 2026-01 metadata naming key"
_CONTEXT_CHUNKER: Final = "torpor snapshot repository v2 2026-01 chunker gear seed"


def _derive(context: str, secret: bytes, length: int = 32) -> bytes:
    return blake3.blake3(secret, derive_key_context=context).digest(length=length)


class MasterKey:
    """The secret every object of an encrypted repository is sealed and named under.

    `repr()` and `str()` never show key material: a master key in a log line or a
    traceback's locals would undo the whole scheme.
    """

    __slots__ = ("_secret", "chunk_id_key", "chunker_seed", "naming_key", "sealing_key")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != MASTER_KEY_BYTES:
            raise ValueError(f"a master key is {MASTER_KEY_BYTES} bytes, not {len(secret)}")
        self._secret = bytes(secret)
        self.sealing_key = _derive(_CONTEXT_SEALING, self._secret)
        self.chunk_id_key = _derive(_CONTEXT_CHUNK_ID, self._secret)
        self.naming_key = _derive(_CONTEXT_NAMING, self._secret)
        self.chunker_seed = _chunker_seed(_derive(_CONTEXT_CHUNKER, self._secret, 8))

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random master key (from the OS's CSPRNG): one per repository, forever."""
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    def secret(self) -> bytes:
        """The raw secret, only to wrap it into a key object (a method: never a printed field)."""
        return self._secret

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterKey):
            return NotImplemented
        return hmac.compare_digest(self._secret, other._secret)

    __hash__ = None  # type: ignore[assignment]  # equal keys must not become dict keys by accident


def _chunker_seed(material: bytes) -> int:
    """A gear seed in [1, 2**63 - 1]: never 0 (the public table), never past pyfastcdc's range."""
    return int.from_bytes(material, "big") % CHUNKER_SEED_MAX + 1
