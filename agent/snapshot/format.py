"""The repository format, version 1: object keys, codecs and the encoded structures.

docs/design.md ("Snapshot format") is the specification; this module is its only
implementation, so a format change is a change here plus a new FORMAT_VERSION.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Final, Literal

import blake3
import msgspec
import zstandard

from .errors import SnapshotError

FORMAT_NAME: Final = "torpor-snapshot"
FORMAT_VERSION: Final = 2  # the newest this agent reads and writes
PLAIN_VERSION: Final = 1  # an unencrypted repository (unchanged since version 1)
SEALED_VERSION: Final = 2  # an encrypted one: every object sealed (object_format.py)
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

# Caps on what one object may decode to. The repository is written by whoever can write the
# bucket, so a 32 KB zstd object must not be able to inflate to gigabytes: each kind has an
# absolute maximum, generous for real workspaces (a manifest of 2 million files is a few
# hundred MB of msgpack; the writers keep index objects and pack tables far below theirs).
MAX_CONFIG_BYTES: Final = 64 * 1024  # JSON of a few fields
MAX_MANIFEST_BYTES: Final = 1024**3  # decoded msgpack; its Python objects take ~4x this
MAX_INDEX_BYTES: Final = 512 * 1024**2  # writers split at MAX_INDEX_RECORDS (~220 MB)
MAX_PACK_TABLE_BYTES: Final = 256 * 1024**2  # a pack holds at most MAX_PACK_RECORDS (~60 MB)
MAX_INDEX_RECORDS: Final = 4_000_000  # blob records per index object (write_indexes)
MAX_PACK_RECORDS: Final = 1_000_000  # a pack is sealed at this many chunks, full or not
MAX_CHUNK_BYTES: Final = 64 * 1024**2  # pyfastcdc cuts at most 16 MiB; headroom, not more
MAX_PACK_BYTES: Final = 4 * 1024**3  # pack_size_mib <= 512, plus one blob and the table
MAX_FILE_BYTES: Final = 2**63 - 1  # off_t

# Identifiers: object ids are BLAKE3-256 as 64 lower-case hex, the repository id 32
# (a uuid4 hex). `\Z`, not `$`: `$` also matches before a trailing newline.
OBJECT_ID_PATTERN: Final = r"^[0-9a-f]{64}\Z"
REPOSITORY_ID_PATTERN: Final = r"^[0-9a-f]{32}\Z"
_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)
_REPOSITORY_ID = re.compile(REPOSITORY_ID_PATTERN)

# Field types with their bounds, checked by msgspec while decoding (never when constructing).
ObjectId = Annotated[str, msgspec.Meta(pattern=OBJECT_ID_PATTERN)]
ChunkId = Annotated[bytes, msgspec.Meta(min_length=HASH_BYTES, max_length=HASH_BYTES)]
ChunkLength = Annotated[int, msgspec.Meta(ge=0, le=MAX_CHUNK_BYTES)]
PackOffset = Annotated[int, msgspec.Meta(ge=0, le=MAX_PACK_BYTES)]
FileOffset = Annotated[int, msgspec.Meta(ge=0, le=MAX_FILE_BYTES)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Inode = Annotated[int, msgspec.Meta(ge=0)]  # a u64 (msgpack holds no more; msgspec bounds int64)
# Times before 1970 are negative and real (a restored archive); the bound is the kernel's.
TimeNs = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


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


def is_object_id(text: str) -> bool:
    """64 lower-case hex: the only strings ever turned into a key or a cache file name."""
    return _OBJECT_ID.match(text) is not None


def is_repository_id(text: str) -> bool:
    return _REPOSITORY_ID.match(text) is not None


def id_from_key(key: str) -> str | None:
    """The id a key under data/, index/, snapshots/ or pins/ names, or None if the key is
    not exactly of its prefix's form (`data/<hh>/<id>` with hh = the id's first two).

    Listed keys are whatever a writer to the bucket put there: `snapshots/../../x` must
    never become a path, a cache file name or a key to delete.
    """
    if key.startswith(DATA_PREFIX):
        shard, _, rest = key[len(DATA_PREFIX) :].partition("/")
        return rest if is_object_id(rest) and shard == rest[:2] else None
    for prefix in (INDEX_PREFIX, SNAPSHOT_PREFIX, PIN_PREFIX):
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            return rest if is_object_id(rest) else None
    return None


class ChunkerParams(msgspec.Struct, frozen=True):
    """FastCDC's parameters; the chunker allocates from them, so each is bounded (the
    bounds are pyfastcdc's own) and min <= avg <= max."""

    min_size: Annotated[int, msgspec.Meta(ge=64, le=1024**2)] = 256 * 1024
    avg_size: Annotated[int, msgspec.Meta(ge=256, le=4 * 1024**2)] = 1024 * 1024
    max_size: Annotated[int, msgspec.Meta(ge=1024, le=16 * 1024**2)] = 4 * 1024 * 1024
    algorithm: Literal["fastcdc2020"] = "fastcdc2020"
    normalization: Annotated[int, msgspec.Meta(ge=0, le=3)] = 1
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0  # a u64: checked below (JSON has no limit)

    def __post_init__(self) -> None:
        if not self.min_size <= self.avg_size <= self.max_size:
            raise ValueError(
                f"chunker sizes must be min <= avg <= max, not {self.min_size},"
                f" {self.avg_size}, {self.max_size}"
            )
        if self.seed >= 2**64:
            raise ValueError("the chunker seed must fit in 64 bits")


class RepositoryConfig(msgspec.Struct, frozen=True):
    """The `config` object: written once, when the repository is created."""

    format: str
    version: Annotated[int, msgspec.Meta(ge=1)]
    id: Annotated[str, msgspec.Meta(pattern=REPOSITORY_ID_PATTERN)]  # a cache directory name
    created: str
    chunker: ChunkerParams
    hash: Literal["blake3", "blake3-keyed"] = "blake3"
    encryption: Literal["none", "repokey"] = "none"  # repokey: version 2, config sealed


class BlobRecord(msgspec.Struct, array_like=True, frozen=True):
    """One chunk inside a pack: where it is, and how to turn it back into plaintext."""

    chunk_id: ChunkId
    offset: PackOffset
    stored_length: ChunkLength
    raw_length: ChunkLength
    codec: Annotated[int, msgspec.Meta(ge=int(Codec.RAW), le=int(Codec.LZ4))]  # the known codecs


# The index object: pack id → the pack's blob table.
IndexObject = dict[ObjectId, list[BlobRecord]]


class Entry(msgspec.Struct, array_like=True, omit_defaults=True):
    """One path of the workspace, relative to its root."""

    path: str  # path, kind, mode, owner, target, hardlink: checked by restore (paths.py)
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    uid: int
    gid: int
    mtime_ns: TimeNs
    size: FileOffset = 0
    ctime_ns: TimeNs = 0
    inode: Inode = 0
    # [offset, [[chunk_id, length]…]]; ascending and inside `size` (decoding.py checks)
    extents: list[tuple[FileOffset, list[tuple[ChunkId, ChunkLength]]]] = []
    target: str = ""  # symlinks: the link text, verbatim
    hardlink: str = ""  # files: an earlier path of the same inode
    user: str = ""
    group: str = ""
    sparse: bool = False


class SnapshotStats(msgspec.Struct):
    files: Count = 0
    dirs: Count = 0
    symlinks: Count = 0
    skipped: Count = 0  # sockets, FIFOs, devices, unreadable special files
    bytes: Count = 0  # logical size of every file
    bytes_read: Count = 0  # what this snapshot actually read (changed files only)
    bytes_new: Count = 0  # plaintext of chunks the repository did not hold
    stored_new: Count = 0  # what those chunks cost in the store, after compression
    packs_written: Count = 0
    duration_s: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0


class Manifest(msgspec.Struct, omit_defaults=True):  # epoch None: left out, as before
    """A snapshot: the whole tree and every file's chunk list. Written last, never changed."""

    version: Annotated[int, msgspec.Meta(ge=1, le=FORMAT_VERSION)]
    time: str  # ISO 8601 (decoding.py checks it parses: retention reads it)
    hostname: str
    workspace: str
    tags: list[str]
    parent: ObjectId | None
    stats: SnapshotStats
    entries: list[Entry]
    epoch: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """The fencing epoch of the placement that wrote it (agent/fencing/claims.py); None:
    written without an assignment (the CLI on a host serving no instance, older torpor).
    A later field with a default: manifests without it still decode, and older readers
    skip it (msgpack maps; format 2 seals the whole manifest, so nothing else changes)."""

    def chunk_ids(self) -> set[bytes]:
        """Every chunk the snapshot needs (what prune keeps and verify checks)."""
        return {cid for e in self.entries for _, chunks in e.extents for cid, _ in chunks}


_encoder = msgspec.msgpack.Encoder()


def encode_metadata(value: object, max_bytes: int, what: str) -> bytes:
    """msgpack then zstd: the encoding of index and manifest objects (decoding.py reads them).

    The frame records its content size, which the reader checks against its cap before
    inflating. Raises SnapshotError over `max_bytes`: never write what no reader accepts.
    """
    raw = _encoder.encode(value)
    if len(raw) > max_bytes:
        raise SnapshotError(
            f"{what} would be {len(raw)} bytes, over the format's limit of {max_bytes}:"
            " exclude part of the workspace"
        )
    return zstandard.ZstdCompressor(level=_METADATA_ZSTD_LEVEL).compress(raw)


def encode_config(config: RepositoryConfig) -> bytes:
    return msgspec.json.format(msgspec.json.encode(config)) + b"\n"
