"""Packs: chunks grouped into objects of ~16 MiB, each carrying its own blob table.

Grouping is what makes a GiB cost tens of object writes instead of thousands; the table
at the end makes every pack self-describing, so an index can be rebuilt from the packs
and a pack uploaded by a killed `create` can be adopted by the next one.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field

import msgspec

from .decoding import PACK_TABLE, Undecodable, check_records, decode_msgpack
from .format import (
    MAX_PACK_RECORDS,
    MAX_PACK_TABLE_BYTES,
    PACK_MAGIC,
    PACK_TRAILER_BYTES,
    BlobRecord,
    Codec,
    content_id,
)
from .object_format import ObjectFormat, PlainFormat

_TRAILER = struct.Struct("<I4s")


class PackFormatError(Exception):
    """A pack's trailer or table cannot be read: the object is damaged or not a pack."""


TABLE_RESERVE_BYTES = 1024 * 1024  # room for the blob table; a bigger one still fits (slower)
POOL_KEEP = 8


class BufferPool:
    """Pack-sized buffers reused from pack to pack.

    A fresh 16 MiB buffer per pack costs 4096 page faults, and on a VM those faults cost
    more CPU than compressing the data: a 2 GiB snapshot spent seconds in the kernel.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self) -> bytearray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        with self._lock:
            if len(self._free) < POOL_KEEP:
                self._free.append(buffer)


@dataclass
class SealedPack:
    """A finished pack, ready to upload; `release()` once it is stored."""

    pack_id: str
    data: memoryview
    records: list[BlobRecord]
    _buffer: bytearray | None = None
    _pool: BufferPool | None = None

    def release(self) -> None:
        self.data.release()
        if self._buffer is not None and self._pool is not None:
            self._pool.give(self._buffer)
            self._buffer = None


@dataclass
class _OpenPack:
    buffer: bytearray
    used: int = 0
    records: list[BlobRecord] = field(default_factory=list)

    def append(self, data: bytes | memoryview) -> int:
        """Copies `data` in (no allocation while it fits); returns its offset."""
        offset = self.used
        self.buffer[offset : offset + len(data)] = data
        self.used += len(data)
        return offset

    def append_sealed(
        self, objects: ObjectFormat, chunk_id: bytes, stored: bytes | memoryview
    ) -> tuple[int, int]:
        """Seals `stored` straight into the buffer; returns the blob's (offset, length)."""
        offset, room = self.used, len(stored) + objects.overhead
        if offset + room > len(self.buffer):  # never for chunks the chunker cut
            self.buffer.extend(bytes(offset + room - len(self.buffer)))
        with memoryview(self.buffer) as whole, whole[offset : offset + room] as out:
            length = objects.seal_blob_into(chunk_id, stored, out)
        self.used += length
        return offset, length


class PackWriter:
    """Appends chunks to the current pack; hands back a sealed pack when it reaches the target.

    Several threads add chunks; the one whose chunk fills the pack gets it back and uploads
    it, which bounds memory to about one pack per worker thread.
    """

    def __init__(
        self,
        target_bytes: int,
        max_blob_bytes: int = 8 * 1024 * 1024,
        objects: ObjectFormat | None = None,
    ) -> None:
        self._objects: ObjectFormat = objects or PlainFormat()  # seals the table
        self._target = target_bytes
        self._pool = BufferPool(target_bytes + max_blob_bytes + TABLE_RESERVE_BYTES)
        self._open = self._new()
        self._lock = threading.Lock()

    def _new(self) -> _OpenPack:
        return _OpenPack(self._pool.take())

    def add(
        self,
        chunk_id: bytes,
        codec: Codec,
        stored: bytes | memoryview,
        raw_length: int,
        *,
        sealed: bool = False,
    ) -> SealedPack | None:
        """Appends a chunk's stored (compressed) bytes, sealing them on the way in unless
        they are a blob already sealed (prune copying a live blob from an old pack)."""
        with self._lock:
            pack = self._open
            if sealed:
                offset, length = pack.append(stored), len(stored)
            else:
                offset, length = pack.append_sealed(self._objects, chunk_id, stored)
            pack.records.append(BlobRecord(chunk_id, offset, length, raw_length, int(codec)))
            if pack.used < self._target and len(pack.records) < MAX_PACK_RECORDS:
                return None  # (a pack of tiny chunks is sealed early: its table stays bounded)
            self._open = self._new()
        return self._seal(pack)

    def flush(self) -> SealedPack | None:
        """The last, partly filled pack, if it holds anything."""
        with self._lock:
            pack, self._open = self._open, self._new()
        if not pack.records:
            self._pool.give(pack.buffer)
            return None
        return self._seal(pack)

    def _seal(self, pack: _OpenPack) -> SealedPack:
        """Appends the table and trailer; the pack id is the hash of the whole object."""
        table = self._objects.seal_table(msgspec.msgpack.encode(pack.records))
        pack.append(table)
        pack.append(_TRAILER.pack(len(table), PACK_MAGIC))
        data = memoryview(pack.buffer)[: pack.used]
        return SealedPack(content_id(data), data, pack.records, pack.buffer, self._pool)


def table_length(trailer: bytes, pack_size: int) -> int:
    """The table size from a pack's last PACK_TRAILER_BYTES bytes, checked to fit in the
    `pack_size`-byte object and under MAX_PACK_TABLE_BYTES (it is read whole)."""
    if len(trailer) != PACK_TRAILER_BYTES or pack_size < PACK_TRAILER_BYTES:
        raise PackFormatError("pack is shorter than its trailer")
    length, magic = _TRAILER.unpack(trailer)
    if magic != PACK_MAGIC:
        raise PackFormatError("pack trailer has no TPK1 magic")
    if length > pack_size - PACK_TRAILER_BYTES:
        raise PackFormatError(
            f"pack table of {length} bytes does not fit its {pack_size}-byte pack"
        )
    if length > MAX_PACK_TABLE_BYTES:
        raise PackFormatError(f"pack table of {length} bytes is over the format's limit")
    return int(length)


def decode_table(table: bytes, blobs_end: int) -> list[BlobRecord]:
    """The blob table, each record bounded and inside the first `blobs_end` bytes (the
    blobs precede the table); PackFormatError with a one-line reason otherwise."""
    try:
        records = decode_msgpack(table, PACK_TABLE)
        check_records(records, blobs_end)
    except Undecodable as error:
        raise PackFormatError(f"pack table is damaged: {error}") from None
    return records
