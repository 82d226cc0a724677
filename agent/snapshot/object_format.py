"""What differs between a plain repository (format 1) and an encrypted one (format 2).

Everything else in the engine is the same for both: it asks its repository's ObjectFormat
for a chunk's id, to seal a stored chunk before it goes into a pack (and open it again),
to seal a pack's table, and to name and seal an index or manifest object (and open it,
checking that it is the object its key names). Format 1 seals nothing and names by plain
BLAKE3; format 2 seals every one of these with AES-256-GCM bound to the object's kind and
name, and names chunks and objects by keyed BLAKE3 (crypto/cipher.py).
"""

from __future__ import annotations

from typing import Protocol

from .crypto import SEAL_OVERHEAD_BYTES, ObjectKind, RepositoryCipher, SealedObjectInvalid
from .decoding import Undecodable
from .format import INDEX_PREFIX, SNAPSHOT_PREFIX, chunk_id, content_id, id_from_key


class ObjectFormat(Protocol):
    """One repository's naming and sealing; thread-safe."""

    authenticated: bool
    """True when every object is sealed by the repository's key (format 2): what it says
    about owners and setuid bits can be believed (confined_tree.Ownership)."""
    overhead: int
    """Bytes a sealed object or blob has beyond what went in."""

    def chunk_id(self, plain: bytes | memoryview) -> bytes: ...

    def seal_blob(self, cid: bytes, stored: bytes | memoryview) -> bytes | memoryview: ...

    def seal_blob_into(self, cid: bytes, stored: bytes | memoryview, out: memoryview) -> int:
        """`seal_blob` written straight into `out` (a pack buffer, len(stored) + overhead
        bytes); returns the blob's length. Saves two copies of every chunk."""
        ...

    def open_blob(self, cid: bytes, blob: bytes | memoryview) -> bytes | memoryview:
        """Raises Undecodable when the blob is not that chunk's (damaged, swapped)."""
        ...

    def seal_table(self, table: bytes) -> bytes: ...

    def open_table(self, sealed: bytes) -> bytes:
        """Raises Undecodable."""
        ...

    def seal_object(self, kind: ObjectKind, encoded: bytes) -> tuple[str, bytes]:
        """(object id, stored bytes) of an index or manifest's encoded bytes."""
        ...

    def open_object(self, key: str, stored: bytes) -> bytes:
        """The encoded bytes of the object stored at `key`, only if it is that object;
        raises Undecodable otherwise."""
        ...


class PlainFormat:
    """Format 1: nothing sealed; ids are BLAKE3 of the plaintext (chunks) or of the stored
    object (index, manifest), so a stored object is checked by hashing it."""

    authenticated = False
    overhead = 0

    def chunk_id(self, plain: bytes | memoryview) -> bytes:
        return chunk_id(plain)

    def seal_blob(self, cid: bytes, stored: bytes | memoryview) -> bytes | memoryview:
        return stored

    def seal_blob_into(self, cid: bytes, stored: bytes | memoryview, out: memoryview) -> int:
        out[: len(stored)] = stored
        return len(stored)

    def open_blob(self, cid: bytes, blob: bytes | memoryview) -> bytes | memoryview:
        return blob

    def seal_table(self, table: bytes) -> bytes:
        return table

    def open_table(self, sealed: bytes) -> bytes:
        return sealed

    def seal_object(self, kind: ObjectKind, encoded: bytes) -> tuple[str, bytes]:
        return content_id(encoded), encoded

    def open_object(self, key: str, stored: bytes) -> bytes:
        if content_id(stored) != id_from_key(key):
            raise Undecodable("its content does not match its hash")
        return stored


class SealedFormat:
    """Format 2: every blob, table, index and manifest sealed under the repository key."""

    authenticated = True
    overhead = SEAL_OVERHEAD_BYTES

    def __init__(self, cipher: RepositoryCipher) -> None:
        self._cipher = cipher

    def chunk_id(self, plain: bytes | memoryview) -> bytes:
        return self._cipher.chunk_id(plain)

    def seal_blob(self, cid: bytes, stored: bytes | memoryview) -> bytes:
        return self._cipher.seal_chunk(cid, stored)

    def seal_blob_into(self, cid: bytes, stored: bytes | memoryview, out: memoryview) -> int:
        return self._cipher.seal_chunk_into(cid, stored, out)

    def open_blob(self, cid: bytes, blob: bytes | memoryview) -> bytes:
        try:
            return self._cipher.open_chunk(cid, blob)
        except SealedObjectInvalid as error:
            raise Undecodable(str(error)) from None

    def seal_table(self, table: bytes) -> bytes:
        return self._cipher.seal_pack_table(table)

    def open_table(self, sealed: bytes) -> bytes:
        try:
            return self._cipher.open_pack_table(sealed)
        except SealedObjectInvalid as error:
            raise Undecodable(str(error)) from None

    def seal_object(self, kind: ObjectKind, encoded: bytes) -> tuple[str, bytes]:
        return self._cipher.seal_metadata(kind, encoded)

    def open_object(self, key: str, stored: bytes) -> bytes:
        object_id = id_from_key(key)
        kind = _KINDS.get(key[: key.find("/") + 1])
        if object_id is None or kind is None:
            raise Undecodable(f"{key!r} is not the key of a sealed index or manifest")
        try:
            return self._cipher.open_metadata(kind, object_id, stored)
        except SealedObjectInvalid as error:
            raise Undecodable(str(error)) from None


_KINDS = {INDEX_PREFIX: ObjectKind.INDEX, SNAPSHOT_PREFIX: ObjectKind.MANIFEST}
