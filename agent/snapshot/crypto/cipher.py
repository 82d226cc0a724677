"""What the engine calls to read and write an encrypted repository: one object per open repository.

It composes the sealer and the namer of one master key, and fixes which name each kind of
object is bound to, so the pack writer, the restorer and the repository never build
associated data themselves:

- chunk blobs: named by their keyed chunk id (a blob moved to another id fails);
- index and manifest objects: named by the keyed hash of their plaintext, checked on read;
- the pack table: bound to its kind only (the pack id hashes the table, so it cannot be
  inside it); a table moved to another pack points at blobs that then fail to open;
- `config`: bound to the name `config`; locks to their lock id.
"""

from __future__ import annotations

from .errors import SealedObjectInvalid
from .keys import MasterKey
from .naming import Namer
from .sealing import ObjectKind, Sealer

CONFIG_NAME = "config"
_CONTENT_NAMED = (ObjectKind.INDEX, ObjectKind.MANIFEST)


class RepositoryCipher:
    """Seals, opens and names every object of one encrypted repository. Thread-safe."""

    __slots__ = ("_namer", "_sealer", "chunker_seed")

    def __init__(self, master: MasterKey) -> None:
        self._sealer = Sealer(master.sealing_key)
        self._namer = Namer(master.chunk_id_key, master.naming_key)
        self.chunker_seed = master.chunker_seed  # FastCDC gear seed: use instead of config's

    def __repr__(self) -> str:
        return "RepositoryCipher(<redacted>)"

    # ---- chunks (called once per blob by the pack writer and the restorer) ----------

    def chunk_id(self, plaintext: bytes | memoryview) -> bytes:
        """The keyed id of a chunk's plaintext: what the index and manifests record."""
        return self._namer.chunk_id(plaintext)

    def seal_chunk(self, chunk_id: bytes, stored: bytes | memoryview) -> bytes:
        """The blob to append to a pack for a chunk's stored (compressed or raw) bytes."""
        return self._sealer.seal(ObjectKind.CHUNK, chunk_id, stored)

    def seal_chunk_into(self, chunk_id: bytes, stored: bytes | memoryview, out: memoryview) -> int:
        """`seal_chunk` written straight into a pack buffer; returns the blob's length."""
        return self._sealer.seal_into(ObjectKind.CHUNK, chunk_id, stored, out)

    def open_chunk(self, chunk_id: bytes, blob: bytes | memoryview) -> bytes:
        """The stored bytes of a blob; decompress them, then compare `chunk_id(plain)` too.

        Raises:
            SealedObjectInvalid: the blob is damaged or belongs to another chunk id.
        """
        return self._sealer.open(ObjectKind.CHUNK, chunk_id, blob)

    # ---- content-named metadata: index and manifest objects -------------------------

    def seal_metadata(self, kind: ObjectKind, plaintext: bytes) -> tuple[str, bytes]:
        """(object id, sealed bytes) for an index or manifest's encoded bytes.

        The same plaintext gets the same id, so a retried `write_manifest` stays idempotent.
        """
        _require_content_named(kind)
        object_id = self._namer.object_id(kind, plaintext)
        return object_id, self._sealer.seal(kind, object_id, plaintext)

    def open_metadata(self, kind: ObjectKind, object_id: str, sealed: bytes) -> bytes:
        """The plaintext stored as `object_id`, after checking both the seal and the id.

        Raises:
            SealedObjectInvalid: it does not open under this name, or opens but is not the
                content the id names.
        """
        _require_content_named(kind)
        plaintext = self._sealer.open(kind, object_id, sealed)
        if not self._namer.matches(kind, object_id, plaintext):
            raise SealedObjectInvalid(f"{kind.value} {object_id} does not match its id")
        return plaintext

    # ---- singly named objects -------------------------------------------------------

    def seal_config(self, plaintext: bytes) -> bytes:
        return self._sealer.seal(ObjectKind.CONFIG, CONFIG_NAME, plaintext)

    def open_config(self, sealed: bytes) -> bytes:
        """Raises SealedObjectInvalid: damaged, or this master key is not this repository's."""
        return self._sealer.open(ObjectKind.CONFIG, CONFIG_NAME, sealed)

    def seal_pack_table(self, table: bytes) -> bytes:
        return self._sealer.seal(ObjectKind.PACK_TABLE, "", table)

    def open_pack_table(self, sealed: bytes) -> bytes:
        """Raises SealedObjectInvalid: the pack's table is damaged or not sealed by this key."""
        return self._sealer.open(ObjectKind.PACK_TABLE, "", sealed)

    def seal_lock(self, lock_id: str, plaintext: bytes) -> bytes:
        return self._sealer.seal(ObjectKind.LOCK, lock_id, plaintext)

    def open_lock(self, lock_id: str, sealed: bytes) -> bytes:
        return self._sealer.open(ObjectKind.LOCK, lock_id, sealed)


def _require_content_named(kind: ObjectKind) -> None:
    if kind not in _CONTENT_NAMED:
        raise ValueError(f"{kind.value} objects are not named by their content")
