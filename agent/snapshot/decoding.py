"""Bounded, validated decoding of repository objects, which anyone who can write the bucket
can craft.

Every inflation has a cap (format.py's MAX_*_BYTES for the kind): a frame that declares a
bigger content size is refused before a byte is inflated, and one that declares none is
inflated as a stream that stops at cap + 1 bytes. After decoding, the cross-field rules
msgspec's per-field bounds cannot state are checked. Every failure is `Undecodable` with a
one-line reason; `corrupt()` turns it into the IntegrityError that names the object.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec
import zstandard

from .errors import IntegrityError
from .format import (
    MAX_CONFIG_BYTES,
    MAX_INDEX_BYTES,
    MAX_MANIFEST_BYTES,
    BlobRecord,
    Entry,
    IndexObject,
    Manifest,
    RepositoryConfig,
)
from .store.base import ObjectStore

T = TypeVar("T")

_STREAM_BLOCK_BYTES = 1024 * 1024
# The window a streamed frame may make the decoder allocate: our writer's level 3 needs
# 2 MiB; zstd's own default limit is 128 MiB.
_MAX_WINDOW_BYTES = 32 * 1024 * 1024
_REASON_CHARS = 300
# What msgspec raises on bytes that are not a value of the type: DecodeError (ValidationError
# included, and a __post_init__'s ValueError becomes one), UnicodeDecodeError (a ValueError).
_DECODE_ERRORS = (msgspec.DecodeError, ValueError, TypeError, OverflowError)


class Undecodable(Exception):
    """The bytes are not a valid object of the kind asked for; `str()` is the reason."""


def one_line(reason: object) -> str:
    """A reason fit for a one-line message: whitespace folded, length bounded."""
    text = " ".join(str(reason).split())
    return text if len(text) <= _REASON_CHARS else f"{text[: _REASON_CHARS - 1]}…"


def corrupt(key: str, where: str, reason: object) -> IntegrityError:
    """The error for an object that does not decode: one line, the object, what to do."""
    return IntegrityError(
        f"object {key} in {where} is corrupt: {one_line(reason)}; run `snapshot verify`"
    )


def read_bounded(store: ObjectStore, key: str, max_bytes: int) -> bytes:
    """The object, read with one ranged GET of at most `max_bytes` + 1 bytes; Undecodable if
    it is bigger (so a huge object is never downloaded whole). Raises the store's errors."""
    data = store.get(key, 0, max_bytes + 1)
    if len(data) > max_bytes:
        raise Undecodable(f"it is over the {max_bytes}-byte limit for its kind")
    return data


def compressed_bound(max_bytes: int) -> int:
    """The most a zstd object inflating to `max_bytes` can take: incompressible msgpack (an
    index is mostly random chunk ids) grows by zstd's worst case, ~1/256 plus a block."""
    return max_bytes + max_bytes // 128 + 128 * 1024


def inflate(data: bytes, max_bytes: int) -> bytes | bytearray:
    """zstd-decompressed `data`, never more than `max_bytes` + 1 bytes produced.

    zstandard's one-shot `decompress()` allocates what the frame header declares and ignores
    `max_output_size` when there is a declaration (0.25 does): so the declaration is checked
    first. zstd then holds the frame to it exactly. A frame without one is streamed.
    """
    try:
        declared = declared_size(data)
        if declared is None:
            return _stream(data, max_bytes)
        if declared > max_bytes:
            raise Undecodable(f"its frame declares {declared} bytes, over the {max_bytes} limit")
        return zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as error:
        raise Undecodable(f"zstd: {error}") from None


def declared_size(frame: bytes | memoryview) -> int | None:
    """The content size a zstd frame's header declares, or None if it declares none; raises
    ZstdError if `frame` does not start with a frame header. (0.25 returns -1 for "none",
    not its own CONTENTSIZE_UNKNOWN, which is 2**64 - 1: both are taken.)"""
    size = zstandard.frame_content_size(frame)
    return None if size in (-1, zstandard.CONTENTSIZE_UNKNOWN) else int(size)


def _stream(data: bytes, max_bytes: int) -> bytearray:
    """Inflates block by block, refusing at `max_bytes` + 1. A truncated frame ends early
    without an error here; msgpack is self-delimiting, so the decoder refuses the prefix."""
    out = bytearray()
    decompressor = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW_BYTES)
    with decompressor.stream_reader(data) as reader:
        while block := reader.read(min(_STREAM_BLOCK_BYTES, max_bytes + 1 - len(out))):
            out += block
            if len(out) > max_bytes:
                raise Undecodable(f"it inflates to over the {max_bytes}-byte limit")
    return out


def decode_msgpack(raw: bytes | bytearray | memoryview, decoder: msgspec.msgpack.Decoder[T]) -> T:
    """msgpack of exactly the decoder's type, with its fields' bounds; Undecodable otherwise."""
    try:
        return decoder.decode(raw)
    except _DECODE_ERRORS as error:
        raise Undecodable(f"{type(error).__name__}: {error}") from None


# Built once, at import: a type msgspec cannot decode fails loudly here, never as "corrupt".
_MANIFEST = msgspec.msgpack.Decoder(Manifest)
_INDEX = msgspec.msgpack.Decoder(IndexObject)
_CONFIG = msgspec.json.Decoder(RepositoryConfig)
PACK_TABLE = msgspec.msgpack.Decoder(list[BlobRecord])


def decode_manifest(data: bytes) -> Manifest:
    """A manifest object, its fields bounded and its extents checked (`check_manifest`)."""
    manifest = decode_msgpack(inflate(data, MAX_MANIFEST_BYTES), _MANIFEST)
    check_manifest(manifest)
    return manifest


def decode_index(data: bytes) -> IndexObject:
    """An index object: pack ids 64 hex, each blob record bounded by its type."""
    return decode_msgpack(inflate(data, MAX_INDEX_BYTES), _INDEX)


def decode_config(data: bytes) -> RepositoryConfig:
    """The `config` object (JSON), its id and chunker parameters bounded by their types."""
    if len(data) > MAX_CONFIG_BYTES:
        raise Undecodable(f"it is over the {MAX_CONFIG_BYTES}-byte limit for its kind")
    try:
        return _CONFIG.decode(data)
    except _DECODE_ERRORS as error:
        raise Undecodable(f"{type(error).__name__}: {error}") from None


def check_manifest(manifest: Manifest) -> None:
    """What the field types cannot say: the time parses (retention reads it) and every
    file's extents are in order, do not overlap, and end inside its size."""
    try:
        datetime.fromisoformat(manifest.time)
    except ValueError:
        raise Undecodable(f"its time {manifest.time[:40]!r} is not ISO 8601") from None
    for number, entry in enumerate(manifest.entries):
        if entry.extents:
            _check_extents(number, entry)


def _check_extents(number: int, entry: Entry) -> None:
    end = 0
    for offset, chunks in entry.extents:
        if offset < end:
            raise Undecodable(f"entries[{number}]: its extents overlap or are out of order")
        end = offset + sum(length for _, length in chunks)
    if end > entry.size:
        raise Undecodable(f"entries[{number}]: its extents end at {end}, past its size")


def check_records(records: list[BlobRecord], end: int) -> None:
    """Every blob lies inside the first `end` bytes of its pack (its blobs, or its size)."""
    for record in records:
        if record.offset + record.stored_length > end:
            raise Undecodable(
                f"chunk {record.chunk_id.hex()[:16]} at {record.offset}+{record.stored_length}"
                f" lies past byte {end} of its pack"
            )
