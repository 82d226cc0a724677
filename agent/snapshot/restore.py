"""`snapshot restore`: rebuild a tree from a manifest, checking every chunk before writing it.

Packs are fetched in parallel, only the byte ranges holding needed chunks; chunks a warm
standby prefetched into the local chunk cache (as stored: sealed, for an encrypted
repository) are read from there instead, opened with this repository's key, and downloaded
after all when a cached copy does not open or fails its hash. Each chunk is
decompressed and hashed *before* its bytes reach any file, and each file is written under
a temporary name and renamed into place only when complete: a damaged or missing object
stops the restore with the object and file named, and never leaves a silently wrong file.

Nothing in the manifest is trusted: every entry is checked before the first write
(paths.py), and every change to the disk goes through ConfinedTree, which never follows a
symlink and never leaves the target (confined_tree.py).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .chunk_cache import ChunkCache
from .codec import CodecError
from .confined_tree import ConfinedTree, Ownership
from .errors import IntegrityError
from .format import Entry, Manifest, pack_key
from .parallel import raise_open_files_limit, run_all
from .paths import ROOT, check_entries
from .progress import Progress
from .repository import Location, Repository
from .store.base import ObjectNotFound

MERGE_GAP_BYTES = 1024 * 1024  # fetch two blobs in one ranged GET if this close
MAX_RANGE_BYTES = 6 * 1024 * 1024  # but no bigger: under the mmap threshold, buffers are reused
CACHED_PER_TASK = 32  # cached chunks read by one task: fewer, longer tasks, writes in file order


@dataclass
class _File:
    entry: Entry
    serial: int
    remaining: int
    fd: int = -1
    temp: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class _Target:
    file: _File
    offset: int


_Work = list[bytes] | tuple[str, dict[bytes, list[_Target]]]


class Restorer:
    def __init__(
        self,
        repository: Repository,
        manifest: Manifest,
        target: Path,
        threads: int,
        cache: ChunkCache | None = None,
        *,
        trust_ownership: bool = False,
        snapshot_id: str = "",
    ):
        self._repo = repository
        self._cache = cache
        self._cached: dict[bytes, list[_Target]] = defaultdict(list)
        self._manifest = manifest
        self._snapshot_id = snapshot_id
        self._target = target
        self._trusted = trust_ownership or repository.authenticated
        self._threads = threads
        self._files: list[_File] = []
        self._progress = Progress("restore")
        self._tree: ConfinedTree
        self._link_sources = {e.hardlink for e in manifest.entries if e.hardlink}

    def run(self, progress: Progress) -> None:
        """Raises UnsafeEntry (before anything is written) for an entry it must not act on,
        IntegrityError for missing or damaged data, OSError for the target's own errors."""
        check_entries(self._manifest.entries, self._snapshot_id or "being restored")
        self._progress = progress
        raise_open_files_limit()
        self._repo.load_index()
        by_pack = self._plan()
        progress.set_totals(len(self._files), sum(f.entry.size for f in self._files))
        ownership = Ownership.for_target(self._target, trusted=self._trusted)
        self._tree = ConfinedTree(self._target, ownership)
        self._tree.open()
        try:
            self._write_tree(by_pack)
        finally:
            self._tree.close()

    def _write_tree(self, by_pack: dict[str, dict[bytes, list[_Target]]]) -> None:
        dirs = [e for e in self._manifest.entries if e.kind == "dir"]
        for entry in dirs:
            if entry.path != ROOT:
                self._tree.make_dir(entry.path)
        try:
            self._create_files()
            work: list[_Work] = [*self._cached_batches(), *by_pack.items()]
            run_all(self._threads, self._restore_one, work, "restore")
        except BaseException:
            self._discard_temps()
            raise
        self._links()
        for entry in reversed(dirs):  # deepest last-listed first: children done before parents
            self._tree.finish_dir(entry.path, entry)

    # ---- planning ------------------------------------------------------------------

    def _plan(self) -> dict[str, dict[bytes, list[_Target]]]:
        """For each pack, the chunks it must supply and where each goes."""
        by_pack: dict[str, dict[bytes, list[_Target]]] = defaultdict(lambda: defaultdict(list))
        for entry in self._manifest.entries:
            if entry.kind != "file" or entry.hardlink:
                continue
            size = sum(n for _, c in entry.extents for _, n in c)
            file = _File(entry, len(self._files), size)
            self._files.append(file)
            for start, chunks in entry.extents:
                offset = start
                for cid, length in chunks:
                    location = self._location(cid, entry)
                    if cid in self._cached or (self._cache and self._cache.has(cid)):
                        self._cached[cid].append(_Target(file, offset))
                    else:
                        by_pack[location.pack_id][cid].append(_Target(file, offset))
                    offset += length
        return by_pack

    def _cached_batches(self) -> list[list[bytes]]:
        """Cached chunks in groups, in the order their first target is written."""
        ordered = sorted(
            self._cached,
            key=lambda c: (self._cached[c][0].file.entry.path, self._cached[c][0].offset),
        )
        step = CACHED_PER_TASK
        return [ordered[i : i + step] for i in range(0, len(ordered), step)]

    def _location(self, cid: bytes, entry: Entry) -> Location:
        try:
            return self._repo.chunks[cid]
        except KeyError:
            raise IntegrityError(
                f"chunk {cid.hex()[:16]} of {entry.path} is in no index of"
                f" {self._repo.store.describe()}: run `snapshot verify`"
            ) from None

    # ---- files ---------------------------------------------------------------------

    def _create_files(self) -> None:
        """Files with no chunk to wait for (empty, or all hole) are made at once."""
        for file in self._files:
            if file.remaining == 0:
                file.fd = self._open_temp(file)
                self._finish(file)

    def _open_temp(self, file: _File) -> int:
        entry = file.entry  # a dense file's extents cover it: only holes need ftruncate
        size = entry.size if entry.sparse or not entry.extents else 0
        fd, file.temp = self._tree.create_temp(entry.path, file.serial, size)
        return fd

    def _restore_one(self, work: _Work) -> None:
        """Some cached chunks (their ids), or a pack and the chunks it must supply."""
        if isinstance(work, list):
            for cid in work:
                self._restore_cached(cid)
        else:
            self._restore_pack(work)

    def _restore_cached(self, cid: bytes) -> None:
        """From the chunk cache; a miss, or an entry that does not open under this
        repository's key or match its id, downloads just this chunk."""
        targets = self._cached[cid]
        plain = self._from_cache(cid)
        if plain is None:
            location = self._repo.chunks[cid]
            data = self._fetch(
                location.pack_id, location.offset, location.stored_length, targets[0]
            )
            plain = self._verified(cid, location, memoryview(data), targets[0])
        for target in targets:
            self._write(target, plain)

    def _from_cache(self, cid: bytes) -> bytes | memoryview | None:
        """The cached blob opened, decoded and hash-checked as a pack's would be; a bad
        entry is discarded (None)."""
        cached = self._cache.get(cid) if self._cache is not None else None
        if cached is None:
            return None
        try:
            return self._repo.open_chunk(cid, cached.codec, cached.blob, cached.raw_length)
        except CodecError:
            assert self._cache is not None
            self._cache.discard(cid)
            return None

    def _restore_pack(self, item: tuple[str, dict[bytes, list[_Target]]]) -> None:
        pack_id, wanted = item
        blobs = sorted(((cid, self._repo.chunks[cid]) for cid in wanted), key=lambda b: b[1].offset)
        for start, end, group in ranges(blobs):
            data = self._fetch(pack_id, start, end - start, wanted[group[0][0]][0])
            for cid, location in group:
                relative = location.offset - start
                stored = memoryview(data)[relative : relative + location.stored_length]
                plain = self._verified(cid, location, stored, wanted[cid][0])
                for target in wanted[cid]:
                    self._write(target, plain)

    def _fetch(self, pack_id: str, start: int, length: int, first: _Target) -> bytes:
        key = pack_key(pack_id)
        try:
            data = self._repo.store.get(key, start, length)
        except ObjectNotFound:
            raise IntegrityError(
                f"{self._repo.store.describe()}/{key} is missing"
                f" (needed by {first.file.entry.path!r}): run `snapshot verify`"
            ) from None
        if len(data) != length:
            raise IntegrityError(
                f"{self._repo.store.describe()}/{key} is truncated"
                f" (needed by {first.file.entry.path!r}): run `snapshot verify --read-data`"
            )
        return data

    def _verified(
        self, cid: bytes, location: Location, stored: memoryview, first: _Target
    ) -> bytes | memoryview:
        """The chunk's plaintext, only if it hashes to its id."""
        try:
            return self._repo.open_chunk(cid, location.codec, stored, location.raw_length)
        except CodecError as error:
            raise IntegrityError(
                f"chunk {cid.hex()[:16]} in {pack_key(location.pack_id)} {error}"
                f" (needed by {first.file.entry.path!r}); nothing was written over that file"
            ) from error

    def _write(self, target: _Target, plain: bytes | memoryview) -> None:
        file = target.file
        with file.lock:  # opened on first use: a tree of 100k files must not need 100k fds
            if file.fd < 0:
                file.fd = self._open_temp(file)
        written = os.pwrite(file.fd, plain, target.offset)
        while written < len(plain):  # pwrite may be short on some filesystems
            written += os.pwrite(file.fd, plain[written:], target.offset + written)
        with file.lock:
            file.remaining -= len(plain)
            done = file.remaining == 0
        self._progress.add(nbytes=len(plain))
        if done:
            self._finish(file)

    def _finish(self, file: _File) -> None:
        fd, file.fd = file.fd, -1
        linked = file.entry.path in self._link_sources
        self._tree.finish_file(file.entry.path, fd, file.temp, file.entry, linked=linked)
        file.temp = ""
        self._progress.add(files=1)

    def _discard_temps(self) -> None:
        for file in self._files:
            if file.fd >= 0:
                os.close(file.fd)
                file.fd = -1
            if file.temp:
                self._tree.discard_temp(file.entry.path, file.temp)

    # ---- links ---------------------------------------------------------------------

    def _links(self) -> None:
        """Hard links first, symlinks last: after them nothing is written by path."""
        for entry in self._manifest.entries:
            if entry.kind == "file" and entry.hardlink:
                self._tree.hard_link(entry.path, entry.hardlink)
        for entry in self._manifest.entries:
            if entry.kind == "symlink":
                self._tree.symlink(entry.path, entry)


def ranges(
    blobs: list[tuple[bytes, Location]],
) -> list[tuple[int, int, list[tuple[bytes, Location]]]]:
    """Groups blobs sorted by offset into byte ranges worth one GET each."""
    found: list[tuple[int, int, list[tuple[bytes, Location]]]] = []
    for cid, location in blobs:
        end = location.offset + location.stored_length
        if (
            found
            and location.offset - found[-1][1] <= MERGE_GAP_BYTES
            and end - found[-1][0] <= MAX_RANGE_BYTES
        ):
            start, _, group = found[-1]
            group.append((cid, location))
            found[-1] = (start, max(end, found[-1][1]), group)
        else:
            found.append((location.offset, end, [(cid, location)]))
    return found
