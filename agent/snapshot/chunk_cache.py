"""A local cache of chunks as their repository stores them: what a warm standby prefetched.

An entry is the chunk's *blob* exactly as it sits in its pack — sealed under the
repository's key for an encrypted repository (format 2), compressed for a plain one — with
its codec and raw length in a 5-byte header. So a standby that prefetches for an instance
it does not serve yet holds ciphertext only; the restore that finally uses an entry opens
it with the claiming instance's own key, decompresses it and compares its hash with the
chunk id before a byte is written (restore.py). An entry of another repository does not
open under that key, a torn or damaged one does not decode: either is discarded and its
chunk downloaded, so the cache may hold anything, be half-written or be deleted at any
time and never make a restore write wrong bytes. Entries are written under a temporary
name and renamed into place, never fsynced (a power cut's torn entry is discarded like a
damaged one; two syncs per chunk made a 2 GiB prefetch take 20 s, docs/benchmarks.md).

Partitions (design.md "Warm pools", tenant isolation): the cache of one instance's
repository lives in that instance's folder, so everything cached for others can be
deleted whole before the host serves it (tenancy.py); `admit`, when given, is asked
around each write, so a prefetch for an instance the host no longer may serve stops
writing the moment the host is claimed. The bound covers every partition: the least
recently used entries (by mtime, refreshed by a hit at most once a minute) anywhere under
`scope` are evicted past `max_bytes`.

Layout, under `<state dir>/cache/`:
    instances/<instance id>/chunks/<hh>/<chunk id hex>   an instance's partition
    chunks/<hh>/<chunk id hex>                           unattributed (the CLI)
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from .errors import SnapshotError
from .format import HASH_BYTES

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024**3
TOUCH_AFTER_S = 60.0  # a hit refreshes an older mtime only: LRU to the minute, no write per read
CHUNKS = "chunks"
PARTITIONS = "instances"
_HEADER = struct.Struct("<BI")  # codec, raw length

Admit = Callable[[], AbstractContextManager[bool]]
"""Held around each write: True while this cache's partition may still be written."""


class CacheRevoked(SnapshotError):
    """The host now serves another instance: this partition may not be written any more."""


@dataclass(frozen=True, slots=True)
class CachedBlob:
    """A cached chunk as stored: open it with the repository (`Repository.open_chunk`)."""

    codec: int
    raw_length: int
    blob: bytes


class ChunkCache:
    """Thread-safe: restore and prefetch workers read and write it concurrently."""

    def __init__(
        self,
        root: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        scope: Path | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.root = root
        self._prefix = f"{root}{os.sep}"  # paths as strings: a restore asks for thousands
        self.max_bytes = max_bytes
        self._scope = scope
        self._admit = admit
        self._lock = threading.Lock()
        self._used: int | None = None  # measured on first write

    def _path(self, cid: bytes) -> str:
        """The entry's file: 64 hex, as every chunk id is once decoded (format.ChunkId)."""
        if len(cid) != HASH_BYTES:
            raise ValueError(f"a chunk id is {HASH_BYTES} bytes, not {len(cid)}")
        name = cid.hex()
        return f"{self._prefix}{name[:2]}{os.sep}{name}"

    def has(self, cid: bytes) -> bool:
        return os.path.isfile(self._path(cid))  # noqa: PTH113 (no Path per chunk)

    def get(self, cid: bytes) -> CachedBlob | None:
        """The cached blob, unverified: the caller opens it with its repository's key and
        `discard`s it when that fails. None when absent or too short to be an entry."""
        path = self._path(cid)
        try:
            with open(path, "rb", buffering=0) as entry:  # noqa: PTH123 (a str path)
                data = entry.readall()
                modified = os.fstat(entry.fileno()).st_mtime
        except OSError:
            return None
        if len(data) < _HEADER.size:
            self.discard(cid)
            return None
        if time.time() - modified > TOUCH_AFTER_S:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: evicted last
        codec, raw_length = _HEADER.unpack_from(data)
        return CachedBlob(codec, raw_length, data[_HEADER.size :])

    def discard(self, cid: bytes) -> None:
        """Removes an entry that did not open, decode or match its id."""
        log.warning(
            "cached chunk %s is damaged or not this repository's: discarded", cid.hex()[:16]
        )
        with contextlib.suppress(OSError):
            os.unlink(self._path(cid))  # noqa: PTH108

    def put(self, cid: bytes, codec: int, raw_length: int, blob: bytes | memoryview) -> None:
        """Stores a chunk's blob (already verified by the caller), then evicts past the
        bound. Raises CacheRevoked when `admit` says the partition is closed."""
        if len(blob) + _HEADER.size > self.max_bytes:
            return
        path = Path(self._path(cid))
        with self._admitted():
            if path.is_file():
                return
            try:
                _write_entry(path, _HEADER.pack(codec, raw_length), blob)
            except OSError as error:  # the cache only speeds things up
                log.warning("chunk cache write failed (%s): restores will download", error)
                return
        with self._lock:
            used = self._used if self._used is not None else self._measure()
            self._used = used + _HEADER.size + len(blob)
            over = self._used > self.max_bytes
        if over:
            self.evict()

    @contextlib.contextmanager
    def _admitted(self) -> Iterator[None]:
        if self._admit is None:
            yield
            return
        with self._admit() as allowed:
            if not allowed:
                raise CacheRevoked(
                    f"this host now serves another instance: nothing more is cached in {self.root}"
                )
            yield

    def used_bytes(self) -> int:
        with self._lock:
            self._used = self._measure()
            return self._used

    def evict(self) -> int:
        """Removes least recently used entries until under the bound; returns how many."""
        with self._lock:
            entries = sorted(self._entries(), key=lambda e: e[1])
            used = sum(size for _, _, size in entries)
            removed = 0
            for path, _, size in entries:
                if used <= self.max_bytes:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    used -= size
                    removed += 1
            self._used = used
            return removed

    def _measure(self) -> int:
        return sum(size for _, _, size in self._entries())

    def _chunk_dirs(self) -> list[Path]:
        """Every partition's chunk folder under `scope` (only this one without a scope)."""
        if self._scope is None:
            return [self.root]
        partitions = self._scope / PARTITIONS
        found = [self._scope / CHUNKS]
        if partitions.is_dir():
            found += [p / CHUNKS for p in partitions.iterdir()]
        return found

    def _entries(self) -> list[tuple[Path, float, int]]:
        found: list[tuple[Path, float, int]] = []
        for root in self._chunk_dirs():
            if not root.is_dir():
                continue
            for folder in root.iterdir():
                if not folder.is_dir():
                    continue
                for path in folder.iterdir():
                    with contextlib.suppress(OSError):
                        st = path.stat()
                        if not path.name.startswith("."):
                            found.append((path, st.st_mtime, st.st_size))
        return found


def _write_entry(path: Path, header: bytes, blob: bytes | memoryview) -> None:
    """Temp then rename (a reader never sees half an entry); no fsync, see the module doc."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            for part in (header, blob):
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
