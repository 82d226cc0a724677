"""A local, content-addressed cache of chunk plaintexts: what a warm standby prefetched.

A chunk's id is the BLAKE3 of its plaintext, so a cached chunk is valid for every
repository that names it and can be checked on read: the cache may hold anything, be
half-written or be deleted at any time and still never make a restore write wrong bytes.
Entries are written under a temporary name and renamed into place, but never fsynced:
every read is hash-checked, so an entry a power cut left empty or torn is discarded like any
damaged one, and a prefetch of thousands of chunks does not wait for two syncs per chunk
(2 GiB: 20 s with them, see docs/benchmarks.md). The cache is bounded: the least recently
used entries (by mtime, refreshed by a hit at most once a minute) are evicted past
`max_bytes`.

Layout: `<state dir>/cache/chunks/<hh>/<chunk id hex>`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .format import HASH_BYTES, chunk_id

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024**3
TOUCH_AFTER_S = 60.0  # a hit refreshes an older mtime only: LRU to the minute, no write per read


class ChunkCache:
    """Thread-safe: restore and prefetch workers read and write it concurrently."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self._prefix = f"{root}{os.sep}"  # paths as strings: a restore asks for thousands
        self.max_bytes = max_bytes
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

    def get(
        self, cid: bytes, hash_with: Callable[[bytes | memoryview], bytes] = chunk_id
    ) -> bytes | None:
        """The chunk's plaintext if cached and intact (`hash_with` is the repository's chunk
        id: keyed BLAKE3 for an encrypted one); a damaged entry is removed."""
        path = self._path(cid)
        try:
            with open(path, "rb", buffering=0) as entry:  # noqa: PTH123 (a str path)
                data = entry.readall()
                modified = os.fstat(entry.fileno()).st_mtime
        except OSError:
            return None
        if hash_with(data) != cid:
            log.warning("cached chunk %s does not match its hash: discarded", cid.hex()[:16])
            with contextlib.suppress(OSError):
                os.unlink(path)  # noqa: PTH108
            return None
        if time.time() - modified > TOUCH_AFTER_S:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: evicted last
        return data

    def put(self, cid: bytes, plain: bytes | memoryview) -> None:
        """Stores a chunk already verified against `cid`, then evicts past the bound."""
        if len(plain) > self.max_bytes:
            return
        path = Path(self._path(cid))
        if path.is_file():
            return
        try:
            _write_entry(path, plain)
        except OSError as error:  # the cache only speeds things up
            log.warning("chunk cache write failed (%s): restores will download", error)
            return
        with self._lock:
            self._used = (self._used if self._used is not None else self._measure()) + len(plain)
            over = self._used > self.max_bytes
        if over:
            self.evict()

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

    def _entries(self) -> list[tuple[Path, float, int]]:
        found: list[tuple[Path, float, int]] = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                with contextlib.suppress(OSError):
                    st = path.stat()
                    if not path.name.startswith("."):
                        found.append((path, st.st_mtime, st.st_size))
        return found


def _write_entry(path: Path, plain: bytes | memoryview) -> None:
    """Temp then rename (a reader never sees half an entry); no fsync, see the module doc."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(plain)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
