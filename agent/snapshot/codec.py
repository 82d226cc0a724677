"""Chunk compression: zstd at a level, lz4, or raw when compressing does not pay.

A chunk must shrink by at least MIN_SAVING to be stored compressed: fp16 weights and
already-compressed files barely shrink, and storing them raw makes restore cheaper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import lz4.block
import zstandard

from .decoding import declared_size
from .format import Codec, chunk_id

MIN_SAVING = 0.03


class CodecError(Exception):
    """A stored chunk could not be decoded (the pack is damaged)."""


@dataclass(frozen=True)
class Compression:
    """A parsed `compression` setting: `zstd:1`, `lz4` or `none`."""

    codec: Codec
    level: int = 0

    @classmethod
    def parse(cls, text: str) -> Compression:
        name, _, level = text.partition(":")
        if name == "zstd":
            return cls(Codec.ZSTD, int(level) if level else 3)
        if name == "lz4":
            return cls(Codec.LZ4)
        if name == "none":
            return cls(Codec.RAW)
        raise ValueError(f"unknown compression {text!r}: use zstd[:LEVEL], lz4 or none")


class ChunkCompressor:
    """Compresses chunks from many threads (zstd contexts are per thread, not shareable)."""

    def __init__(self, compression: Compression) -> None:
        self._compression = compression
        self._local = threading.local()

    def compress(self, data: bytes | memoryview) -> tuple[Codec, bytes | memoryview]:
        """The codec actually used and the stored bytes (the input itself when raw)."""
        codec = self._compression.codec
        if codec is Codec.RAW or len(data) == 0:
            return Codec.RAW, data
        if codec is Codec.ZSTD:
            packed = self._zstd().compress(data)
        else:
            packed = lz4.block.compress(data, store_size=False)
        if len(packed) > len(data) * (1 - MIN_SAVING):
            return Codec.RAW, data
        return codec, packed

    def _zstd(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "zstd", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self._compression.level)
            self._local.zstd = compressor
        return compressor


_local = threading.local()


def decompress(codec: int, stored: bytes | memoryview, raw_length: int) -> bytes | memoryview:
    """The chunk's plaintext; raises CodecError if it cannot be decoded to `raw_length` bytes."""
    try:
        if codec == Codec.RAW:
            plain: bytes | memoryview = stored
        elif codec == Codec.ZSTD:
            # A frame that declares its size is inflated to that size, max_output_size
            # notwithstanding (zstandard 0.25): a stored chunk must not declare more.
            declared = declared_size(stored)
            if declared not in (raw_length, None):
                raise CodecError(f"its frame declares {declared} bytes, expected {raw_length}")
            plain = _zstd_decompressor().decompress(stored, max_output_size=raw_length)
        elif codec == Codec.LZ4:
            plain = lz4.block.decompress(stored, uncompressed_size=raw_length)
        else:
            raise CodecError(f"unknown codec {codec}")
    except (zstandard.ZstdError, lz4.block.LZ4BlockError) as error:
        raise CodecError(str(error)) from error
    if len(plain) != raw_length:
        raise CodecError(f"decoded {len(plain)} bytes, expected {raw_length}")
    return plain


def verified(
    codec: int,
    stored: bytes | memoryview,
    raw_length: int,
    cid: bytes,
    hash_with: Callable[[bytes | memoryview], bytes] = chunk_id,
) -> bytes | memoryview:
    """The chunk's plaintext, only if it decodes and `hash_with` (the repository's chunk id:
    keyed when encrypted) gives `cid`; else CodecError."""
    try:
        plain = decompress(codec, stored, raw_length)
    except CodecError as error:
        raise CodecError(f"cannot be decoded ({error})") from error
    if hash_with(plain) != cid:
        raise CodecError("does not match its hash")
    return plain


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "zstd", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _local.zstd = decompressor
    return decompressor
