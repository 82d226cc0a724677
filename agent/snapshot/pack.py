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

from .format import PACK_MAGIC, PACK_TRAILER_BYTES, BlobRecord, Codec, content_id

_TRAILER = struct.Struct("<I4s")


class PackFormatError(Exception):
    """A pack's trailer or table cannot be read: the object is damaged or not a pack."""


@dataclass
class SealedPack:
    """A finished pack, ready to upload."""

    pack_id: str
    data: memoryview
    records: list[BlobRecord]


@dataclass
class _OpenPack:
    buffer: bytearray = field(default_factory=bytearray)
    records: list[BlobRecord] = field(default_factory=list)


class PackWriter:
    """Appends chunks to the current pack; hands back a sealed pack when it reaches the target.

    Several threads add chunks; the one whose chunk fills the pack gets it back and uploads
    it, which bounds memory to about one pack per worker thread.
    """

    def __init__(self, target_bytes: int) -> None:
        self._target = target_bytes
        self._open = _OpenPack()
        self._lock = threading.Lock()

    def add(
        self, chunk_id: bytes, codec: Codec, stored: bytes | memoryview, raw_length: int
    ) -> SealedPack | None:
        with self._lock:
            pack = self._open
            record = BlobRecord(chunk_id, len(pack.buffer), len(stored), raw_length, int(codec))
            pack.buffer += stored
            pack.records.append(record)
            if len(pack.buffer) < self._target:
                return None
            self._open = _OpenPack()
        return seal(pack.buffer, pack.records)

    def flush(self) -> SealedPack | None:
        """The last, partly filled pack, if it holds anything."""
        with self._lock:
            pack, self._open = self._open, _OpenPack()
        return seal(pack.buffer, pack.records) if pack.records else None


def seal(buffer: bytearray, records: list[BlobRecord]) -> SealedPack:
    """Appends the table and trailer; the pack id is the hash of the whole object."""
    table = msgspec.msgpack.encode(records)
    buffer += table
    buffer += _TRAILER.pack(len(table), PACK_MAGIC)
    data = memoryview(buffer)  # no copy: a pack is the largest buffer the agent holds
    return SealedPack(content_id(data), data, records)


def table_length(trailer: bytes) -> int:
    """The table size from a pack's last PACK_TRAILER_BYTES bytes."""
    if len(trailer) != PACK_TRAILER_BYTES:
        raise PackFormatError("pack is shorter than its trailer")
    length, magic = _TRAILER.unpack(trailer)
    if magic != PACK_MAGIC:
        raise PackFormatError("pack trailer has no TPK1 magic")
    return int(length)


def decode_table(table: bytes) -> list[BlobRecord]:
    try:
        return msgspec.msgpack.decode(table, type=list[BlobRecord])
    except msgspec.DecodeError as error:
        raise PackFormatError(f"pack table is damaged: {error}") from error
