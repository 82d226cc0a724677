"""Key-derivation parameters as stored in key objects, bounded, and the derivations themselves.

A repository's key objects are written by whoever can write the bucket, so every parameter
read from one is checked against hard bounds *before* any work: a crafted key object
must not make the agent allocate 100 GB or spin for hours. The same checks run when the
parameters are built in code (msgspec calls `__post_init__` on decode and on construction).
"""

from __future__ import annotations

from typing import Final

import blake3
import msgspec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .errors import CryptoError

KEK_BYTES: Final = 32
# Bounds on what a key object may ask for. 1 GiB and 4 GiB-passes take ~1 s and ~2-4 s on
# the 2-core CI VM: slow, but never the hours or the OOM kill a hostile object aims for.
MAX_MEMORY_KIB: Final = 1024 * 1024
MAX_ITERATIONS: Final = 16
MAX_LANES: Final = 16
MAX_KDF_COST: Final = 4 * MAX_MEMORY_KIB  # memory_kib x iterations: one derivation's work
_KEYFILE_CONTEXT: Final = "torpor snapshot repository v2 2026-01 key file key-encryption key"


class Argon2idParams(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="name", tag="argon2id"
):
    """Argon2id costs. The defaults are RFC 9106's second recommended option (64 MiB, t=3,
    p=4; the first needs 2 GiB, too much beside a GPU job): ~90 ms on the CI VM."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    def __post_init__(self) -> None:
        _check_range("lanes", self.lanes, 1, MAX_LANES)
        _check_range("iterations", self.iterations, 1, MAX_ITERATIONS)
        _check_range("memory_kib", self.memory_kib, 8 * self.lanes, MAX_MEMORY_KIB)
        if self.cost > MAX_KDF_COST:
            raise ValueError(
                f"memory_kib x iterations = {self.cost} is above the bound {MAX_KDF_COST}"
            )

    @property
    def cost(self) -> int:
        """The work one derivation takes, in KiB-passes (what an open's budget is spent in)."""
        return self.memory_kib * self.iterations


class KeyFileKdf(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="name", tag="keyfile"
):
    """A key file's 256 random bits need no stretching: one keyed BLAKE3 with the salt."""

    @property
    def cost(self) -> int:
        return 0


KdfParams = Argon2idParams | KeyFileKdf


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside the bounds [{low}, {high}]")


def derive_from_passphrase(passphrase: bytes, params: Argon2idParams, salt: bytes) -> bytes:
    """The 32-byte KEK for a passphrase under one key object's salt and (checked) costs.

    Raises:
        CryptoError: this OpenSSL has no Argon2id (a FIPS build), or the memory is not there.
    """
    try:
        kdf = Argon2id(
            salt=salt,
            length=KEK_BYTES,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_kib,
        )
        return kdf.derive(passphrase)
    except UnsupportedAlgorithm as error:
        raise CryptoError(f"cannot derive a passphrase key: {error}") from None
    except MemoryError:
        raise CryptoError(
            f"cannot allocate {params.memory_kib // 1024} MiB for the passphrase key"
        ) from None


def derive_from_key_file(secret: bytes, salt: bytes) -> bytes:
    """The 32-byte KEK for a key file's secret under one key object's salt."""
    material = blake3.blake3(secret, derive_key_context=_KEYFILE_CONTEXT).digest()
    return blake3.blake3(salt, key=material).digest()
