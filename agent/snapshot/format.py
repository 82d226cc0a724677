"""The repository format, version 1: object keys, codecs and the encoded structures.

docs/design.md ("Snapshot format") is the specification; this module is its only
implementation, so a format change is a change here plus a new FORMAT_VERSION.
"""

from __future__ import annotations

import enum
from typing import Final, TypeVar

import blake3
import msgspec
import zstandard

FORMAT_NAME: Final = "torpor-snapshot"
FORMAT_VERSION: Final = 1
PACK_MAGIC: Final = b"TPK1"
PACK_TRAILER_BYTES: Final = 8  # u32 little-endian table length + magic
HASH_BYTES: Final = 32

CONFIG_KEY: Final = "config"
DATA_PREFIX: Final = "data/"
INDEX_PREFIX: Final = "index/"
SNAPSHOT_PREFIX: Final = "snapshots/"
PIN_PREFIX: Final = "pins/"
LOCK_PREFIX: Final = "locks/"

_METADATA_ZSTD_LEVEL: Final = 3
T = TypeVar("T")


class Codec(enum.IntEnum):
    """How a chunk is stored in its pack."""

    RAW = 0
    ZSTD = 1
    LZ4 = 2


def content_id(data: bytes | memoryview) -> str:
    """BLAKE3-256 as hex: the name of a pack, index or manifest object."""
    return blake3.blake3(data).hexdigest()


def chunk_id(data: bytes | memoryview) -> bytes:
    """BLAKE3-256 digest of a chunk's plaintext (kept binary in memory and in the encodings)."""
    return blake3.blake3(data).digest()


def pack_key(pack_id: str) -> str:
    return f"{DATA_PREFIX}{pack_id[:2]}/{pack_id}"


def index_key(index_id: str) -> str:
    return f"{INDEX_PREFIX}{index_id}"


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOT_PREFIX}{snapshot_id}"


def pin_key(snapshot_id: str) -> str:
    return f"{PIN_PREFIX}{snapshot_id}"


def id_from_key(key: str) -> str:
    """The object id at the end of a key (`data/ab/abcd…` → `abcd…`)."""
    return key.rsplit("/", 1)[-1]


class ChunkerParams(msgspec.Struct, frozen=True):
    min_size: int = 256 * 1024
    avg_size: int = 1024 * 1024
    max_size: int = 4 * 1024 * 1024
    algorithm: str = "fastcdc2020"
    normalization: int = 1
    seed: int = 0


class RepositoryConfig(msgspec.Struct, frozen=True):
    """The `config` object: written once, when the repository is created."""

    format: str
    version: int
    id: str
    created: str
    chunker: ChunkerParams
    hash: str = "blake3"


class BlobRecord(msgspec.Struct, array_like=True, frozen=True):
    """One chunk inside a pack: where it is, and how to turn it back into plaintext."""

    chunk_id: bytes
    offset: int
    stored_length: int
    raw_length: int
    codec: int


# The index object: pack id → the pack's blob table.
IndexObject = dict[str, list[BlobRecord]]


class Entry(msgspec.Struct, array_like=True, omit_defaults=True):
    """One path of the workspace, relative to its root."""

    path: str
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    ctime_ns: int = 0
    inode: int = 0
    extents: list[tuple[int, list[tuple[bytes, int]]]] = []  # [offset, [[chunk_id, length]…]]
    target: str = ""  # symlinks: the link text, verbatim
    hardlink: str = ""  # files: an earlier path of the same inode
    user: str = ""
    group: str = ""
    sparse: bool = False


class SnapshotStats(msgspec.Struct):
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    skipped: int = 0  # sockets, FIFOs, devices, unreadable special files
    bytes: int = 0  # logical size of every file
    bytes_read: int = 0  # what this snapshot actually read (changed files only)
    bytes_new: int = 0  # plaintext of chunks the repository did not hold
    stored_new: int = 0  # what those chunks cost in the store, after compression
    packs_written: int = 0
    duration_s: float = 0.0


class Manifest(msgspec.Struct):
    """A snapshot: the whole tree and every file's chunk list. Written last, never changed."""

    version: int
    time: str
    hostname: str
    workspace: str
    tags: list[str]
    parent: str | None
    stats: SnapshotStats
    entries: list[Entry]

    def chunk_ids(self) -> set[bytes]:
        """Every chunk the snapshot needs (what prune keeps and verify checks)."""
        return {cid for e in self.entries for _, chunks in e.extents for cid, _ in chunks}


_encoder = msgspec.msgpack.Encoder()


def encode_metadata(value: object) -> bytes:
    """msgpack then zstd: the encoding of index and manifest objects."""
    raw = _encoder.encode(value)
    return zstandard.ZstdCompressor(level=_METADATA_ZSTD_LEVEL).compress(raw)


def decode_metadata(data: bytes, kind: type[T]) -> T:
    """Inverse of `encode_metadata`; raises msgspec/zstd errors on damage (callers name the key)."""
    raw = zstandard.ZstdDecompressor().decompress(data)
    return msgspec.msgpack.decode(raw, type=kind)


def encode_config(config: RepositoryConfig) -> bytes:
    return msgspec.json.format(msgspec.json.encode(config)) + b"\n"


def decode_config(data: bytes) -> RepositoryConfig:
    return msgspec.json.decode(data, type=RepositoryConfig)
