"""`snapshot create`: scan, chunk what changed, upload what is new, then commit a manifest.

Write order (docs/design.md): a pack is durable before an index names it, and every
index is written before the manifest that relies on it. A worker thread that fills a
pack uploads it itself, which bounds memory to about one pack per worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from torpor.common.timestamps import utc_now

from .. import error_lines
from .chunker import Chunker, data_regions
from .codec import ChunkCompressor, Compression
from .errors import WorkspaceError
from .format import Entry, IndexObject, Manifest, SnapshotStats, pack_key
from .pack import PackWriter, SealedPack
from .parallel import run_all
from .placement import CommitGuard, SnapshotFenced
from .progress import Progress
from .repository import Repository
from .scan import Scanner

log = logging.getLogger(__name__)

INDEX_EVERY_PACKS = 8


@dataclass
class CreateOptions:
    workspace: Path
    compression: Compression = field(default_factory=lambda: Compression.parse("zstd:1"))
    pack_size_bytes: int = 16 * 1024 * 1024
    threads: int = 4
    excludes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parent: str | None = None  # a snapshot id; None: the newest of this host and workspace
    hostname: str = field(default_factory=socket.gethostname)
    guard: CommitGuard | None = None  # fencing: may veto the manifest write


class _Uploads:
    """Packs durable in the store but not yet named by an index object."""

    def __init__(self, repository: Repository, stats: SnapshotStats) -> None:
        self._repository = repository
        self._stats = stats
        self._unindexed: IndexObject = {}
        self._lock = threading.Lock()

    def upload(self, pack: SealedPack) -> None:
        try:
            self._repository.store.put(pack_key(pack.pack_id), pack.data)  # durable first
        finally:
            pack.release()
        with self._lock:
            self._unindexed[pack.pack_id] = pack.records
            self._stats.packs_written += 1
            batch = self._take() if len(self._unindexed) >= INDEX_EVERY_PACKS else None
        if batch:
            self._repository.write_index(batch)

    def flush(self) -> None:
        with self._lock:
            batch = self._take()
        if batch:
            self._repository.write_index(batch)

    def _take(self) -> IndexObject:
        batch, self._unindexed = self._unindexed, {}
        return batch


class SnapshotCreator:
    """One `create` run against an open repository (the caller holds a shared lock)."""

    def __init__(self, repository: Repository, options: CreateOptions, progress: Progress):
        self._repo = repository
        self._options = options
        self._progress = progress
        self._stats = SnapshotStats()
        self._chunker = Chunker(repository.chunker)
        self._compressor = ChunkCompressor(options.compression)
        self._packer = PackWriter(options.pack_size_bytes, objects=repository.objects)
        self._uploads = _Uploads(repository, self._stats)
        self._pending: set[bytes] = set()  # chunks packed this run, maybe not durable yet
        self._lock = threading.Lock()

    def run(self) -> tuple[str, Manifest]:
        started = time.monotonic()
        self._repo.load_index()
        self._repo.adopt_orphan_packs()
        parent_id, parent = self._parent()
        scan = Scanner(self._options.workspace, self._options.excludes, parent).scan()
        self._progress.set_totals(len(scan.to_read), scan.bytes_to_read)
        self._read_files(scan.entries, scan.to_read)
        for pack in filter(None, [self._packer.flush()]):
            self._uploads.upload(pack)
        self._uploads.flush()
        manifest = self._manifest(scan.entries, parent_id, len(scan.skipped))
        manifest.stats.duration_s = round(time.monotonic() - started, 3)
        snapshot_id = self._commit(manifest)
        if scan.skipped:
            log.info("skipped %d special file(s), e.g. %s", len(scan.skipped), scan.skipped[0])
        return snapshot_id, manifest

    def _commit(self, manifest: Manifest) -> str:
        """Writes the manifest, between the guard's two checks (agent/fencing/claims.py)."""
        guard = self._options.guard
        if guard is None:
            return self._repo.write_manifest(manifest)
        guard.before_commit(self._repo.store)
        snapshot_id = self._repo.write_manifest(manifest)
        try:
            guard.after_commit(self._repo.store)
        except SnapshotFenced:
            self._repo.delete_snapshot(snapshot_id)
            raise
        return snapshot_id

    def _parent(self) -> tuple[str | None, Manifest | None]:
        options = self._options
        if options.parent is not None:
            return options.parent, self._repo.manifest(options.parent)
        workspace = str(options.workspace)
        same = [
            info
            for info in self._repo.snapshots()
            if info.manifest.hostname == options.hostname and info.manifest.workspace == workspace
        ]
        return (same[-1].id, same[-1].manifest) if same else (None, None)

    def _read_files(self, entries: list[Entry], to_read: list[int]) -> None:
        run_all(self._options.threads, self._read_file, [entries[i] for i in to_read], "snapshot")

    def _read_file(self, entry: Entry) -> None:
        path = self._options.workspace / entry.path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise WorkspaceError(
                f"cannot read {path}: {error.strerror}{error_lines.hint(error)}"
            ) from error
        try:
            entry.extents, read = self._chunk_regions(fd, entry)
        except OSError as error:
            raise WorkspaceError(
                f"cannot read {path}: {error.strerror}{error_lines.hint(error)}"
            ) from error
        finally:
            os.close(fd)
        if not entry.sparse:
            entry.size = read  # the file changed while read: record what was read
        with self._lock:
            self._stats.bytes_read += read
        self._progress.add(files=1)

    def _chunk_regions(
        self, fd: int, entry: Entry
    ) -> tuple[list[tuple[int, list[tuple[bytes, int]]]], int]:
        extents: list[tuple[int, list[tuple[bytes, int]]]] = []
        read = 0
        for region in data_regions(fd, entry.size, entry.sparse):
            chunks: list[tuple[bytes, int]] = []
            for _, data in self._chunker.chunks(fd, region):
                chunks.append((self._store_chunk(data), len(data)))
                read += len(data)
                self._progress.add(nbytes=len(data))
            if chunks:
                extents.append((region.offset, chunks))
        return extents, read

    def _store_chunk(self, data: bytes | memoryview) -> bytes:
        cid = self._repo.objects.chunk_id(data)
        with self._lock:
            if cid in self._repo.chunks or cid in self._pending:
                return cid
            self._pending.add(cid)
        codec, stored = self._compressor.compress(data)
        with self._lock:
            self._stats.bytes_new += len(data)
            self._stats.stored_new += len(stored) + self._repo.objects.overhead
        full = self._packer.add(cid, codec, stored, len(data))  # sealed into the pack
        if full is not None:
            self._uploads.upload(full)
        return cid

    def _manifest(self, entries: list[Entry], parent: str | None, skipped: int) -> Manifest:
        stats = self._stats
        for entry in entries:
            if entry.kind == "file":
                stats.files += 1
                stats.bytes += entry.size
            elif entry.kind == "dir":
                stats.dirs += 1
            else:
                stats.symlinks += 1
        stats.skipped = skipped
        return Manifest(
            version=self._repo.config.version,
            time=utc_now().isoformat(),
            hostname=self._options.hostname,
            workspace=str(self._options.workspace),
            tags=sorted(self._options.tags),
            parent=parent,
            stats=stats,
            entries=entries,
            epoch=self._options.guard.epoch if self._options.guard is not None else None,
        )
