"""`snapshot restore`: rebuild a tree from a manifest, checking every chunk before writing it.

Packs are fetched in parallel, only the byte ranges holding needed chunks; chunks a warm
standby prefetched into the local chunk cache are read from there instead (and downloaded
after all when a cached copy fails its hash). Each chunk is
decompressed and hashed *before* its bytes reach any file, and each file is written under
a temporary name and renamed into place only when complete: a damaged or missing object
stops the restore with the object and file named, and never leaves a silently wrong file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .chunk_cache import ChunkCache
from .codec import CodecError, verified
from .errors import IntegrityError
from .format import Entry, Manifest, pack_key
from .parallel import raise_open_files_limit, run_all
from .progress import Progress
from .repository import Location, Repository
from .store.base import ObjectNotFound

MERGE_GAP_BYTES = 1024 * 1024  # fetch two blobs in one ranged GET if this close
MAX_RANGE_BYTES = 6 * 1024 * 1024  # but no bigger: under the mmap threshold, buffers are reused
TEMP_PREFIX = ".torpor-restore-"
CACHED_PER_TASK = 32  # cached chunks read by one task: fewer, longer tasks, writes in file order


@dataclass
class _File:
    entry: Entry
    final: Path
    temp: Path
    remaining: int
    fd: int = -1
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
    ):
        self._repo = repository
        self._cache = cache
        self._cached: dict[bytes, list[_Target]] = defaultdict(list)
        self._manifest = manifest
        self._target = target
        self._threads = threads
        self._owner = os.geteuid() == 0
        self._files: list[_File] = []
        self._progress = Progress("restore")

    def run(self, progress: Progress) -> None:
        self._progress = progress
        raise_open_files_limit()
        self._repo.load_index()
        self._target.mkdir(parents=True, exist_ok=True)
        dirs = [e for e in self._manifest.entries if e.kind == "dir"]
        for entry in dirs:
            self._make_dir(entry)
        by_pack = self._plan()
        total = sum(f.entry.size for f in self._files)
        progress.set_totals(len(self._files), total)
        try:
            self._create_files()
            work: list[_Work] = [*self._cached_batches(), *by_pack.items()]
            run_all(self._threads, self._restore_one, work, "restore")
        except BaseException:
            self._discard_temps()
            raise
        self._links()
        for entry in reversed(dirs):  # deepest last-listed first: children done before parents
            self._set_metadata(self._path(entry), entry)

    # ---- planning ------------------------------------------------------------------

    def _plan(self) -> dict[str, dict[bytes, list[_Target]]]:
        """For each pack, the chunks it must supply and where each goes."""
        by_pack: dict[str, dict[bytes, list[_Target]]] = defaultdict(lambda: defaultdict(list))
        for entry in self._manifest.entries:
            if entry.kind != "file" or entry.hardlink:
                continue
            final = self._path(entry)
            temp = final.with_name(f"{TEMP_PREFIX}{final.name}")
            file = _File(entry, final, temp, sum(n for _, c in entry.extents for _, n in c))
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
        self._clear(file.temp)
        fd = os.open(file.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        if file.entry.size:
            os.ftruncate(fd, file.entry.size)  # the holes of a sparse file stay holes
        return fd

    def _restore_one(self, work: _Work) -> None:
        """Some cached chunks (their ids), or a pack and the chunks it must supply."""
        if isinstance(work, list):
            for cid in work:
                self._restore_cached(cid)
        else:
            self._restore_pack(work)

    def _restore_cached(self, cid: bytes) -> None:
        """From the chunk cache (hash-checked there); a miss downloads just this chunk."""
        targets = self._cached[cid]
        plain: bytes | memoryview | None = self._cache.get(cid) if self._cache else None
        if plain is None:
            location = self._repo.chunks[cid]
            data = self._fetch(
                location.pack_id, location.offset, location.stored_length, targets[0]
            )
            plain = self._verified(cid, location, memoryview(data), targets[0])
        for target in targets:
            self._write(target, plain)

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
                f" (needed by {first.file.entry.path}): run `snapshot verify`"
            ) from None
        if len(data) != length:
            raise IntegrityError(
                f"{self._repo.store.describe()}/{key} is truncated"
                f" (needed by {first.file.entry.path}): run `snapshot verify --read-data`"
            )
        return data

    def _verified(
        self, cid: bytes, location: Location, stored: memoryview, first: _Target
    ) -> bytes | memoryview:
        """The chunk's plaintext, only if it hashes to its id."""
        try:
            return verified(location.codec, stored, location.raw_length, cid)
        except CodecError as error:
            raise IntegrityError(
                f"chunk {cid.hex()[:16]} in {pack_key(location.pack_id)} {error}"
                f" (needed by {first.file.entry.path}); nothing was written over that file"
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
        os.close(file.fd)
        file.fd = -1
        self._set_metadata(file.temp, file.entry)
        self._clear(file.final)
        file.temp.rename(file.final)
        self._progress.add(files=1)

    def _discard_temps(self) -> None:
        for file in self._files:
            if file.fd >= 0:
                os.close(file.fd)
                file.fd = -1
            with contextlib.suppress(FileNotFoundError):
                file.temp.unlink()

    # ---- links, directories, metadata ---------------------------------------------

    def _links(self) -> None:
        for entry in self._manifest.entries:
            path = self._path(entry)
            if entry.kind == "symlink":
                self._clear(path)
                path.symlink_to(entry.target)
                self._set_metadata(path, entry)
            elif entry.kind == "file" and entry.hardlink:
                self._clear(path)
                os.link(self._target / entry.hardlink, path)

    def _make_dir(self, entry: Entry) -> None:
        path = self._path(entry)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        path.mkdir(mode=0o700, exist_ok=True)

    def _clear(self, path: Path) -> None:
        """Makes room for a new entry at `path` (restoring over an existing tree)."""
        try:
            st = path.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()

    def _set_metadata(self, path: Path, entry: Entry) -> None:
        link = entry.kind == "symlink"
        if self._owner:
            os.chown(path, entry.uid, entry.gid, follow_symlinks=False)
        if not link:
            path.chmod(entry.mode)
        os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)

    def _path(self, entry: Entry) -> Path:
        return self._target if entry.path == "." else self._target / entry.path


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
