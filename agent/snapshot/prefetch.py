"""Prefetch: fill the chunk cache with every chunk of some snapshots (a warm standby).

A standby host that holds the chunks of an instance's latest snapshot restores a later
snapshot of it by downloading only the chunks that changed since (restore.py reads the
rest from the cache). Chunks already cached are not fetched again; each fetched chunk is
opened, decompressed and hash-checked before it is cached, exactly as a restore checks it,
but what is cached is its blob as stored: ciphertext for an encrypted repository, so a
standby of a shared pool never writes another team's plaintext (chunk_cache.py). The key
that opened it stays in memory.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from .chunk_cache import ChunkCache
from .codec import CodecError
from .errors import IntegrityError, SnapshotError
from .format import Manifest, pack_key
from .parallel import run_all
from .progress import Progress
from .repository import Location, Repository
from .restore import ranges
from .store.base import ObjectNotFound


@dataclass(frozen=True)
class Prefetched:
    """What a prefetch did: the snapshots it covered, the chunks they need, how many of
    those were cached already, and the bytes it downloaded."""

    snapshot_ids: list[str]
    chunks: int
    already_cached: int
    fetched_bytes: int
    seconds: float = 0.0

    def outputs(self) -> dict[str, str]:
        return {
            "snapshot_ids": ",".join(self.snapshot_ids),
            "chunks": str(self.chunks),
            "already_cached": str(self.already_cached),
            "fetched_bytes": str(self.fetched_bytes),
            "seconds": f"{self.seconds:.2f}",
        }


def prefetch(
    repository: Repository,
    references: list[str],
    cache: ChunkCache,
    threads: int,
    progress: Progress,
    *,
    require_encrypted: bool = False,
) -> Prefetched:
    """Caches every chunk of the snapshots `references` names (ids or unique prefixes).

    Raises SnapshotNotFound for an unknown reference, IntegrityError for an unreadable
    manifest, a missing pack or a chunk that fails its hash (nothing wrong is ever cached),
    SnapshotError for an unencrypted repository when `require_encrypted` (a shared
    standby's order), CacheRevoked once the host serves another instance.
    """
    if require_encrypted and not repository.authenticated:
        raise SnapshotError(
            f"{repository.store.describe()} is not encrypted: a shared standby caches only"
            " encrypted repositories (ciphertext); serve this team from a pool of its own"
        )
    repository.load_index()
    catalog = repository.catalog()
    picked = [repository.pick(reference, catalog) for reference in references]
    ids = [info.id for info in picked]
    wanted = _chunks_of(repository, [info.manifest for info in picked])
    missing = {cid: loc for cid, loc in wanted.items() if not cache.has(cid)}
    by_pack: dict[str, list[tuple[bytes, Location]]] = defaultdict(list)
    for cid, location in missing.items():
        by_pack[location.pack_id].append((cid, location))
    progress.set_totals(len(missing), sum(loc.raw_length for loc in missing.values()))
    fetched = _Counter()

    def fetch_pack(item: tuple[str, list[tuple[bytes, Location]]]) -> None:
        pack_id, blobs = item
        blobs.sort(key=lambda blob: blob[1].offset)
        for start, end, group in ranges(blobs):
            data = _get(repository, pack_id, start, end - start)
            fetched.add(len(data))
            for cid, location in group:
                relative = location.offset - start
                stored = memoryview(data)[relative : relative + location.stored_length]
                _verified(repository, cid, location, stored)  # nothing wrong is cached
                cache.put(cid, location.codec, location.raw_length, stored)
                progress.add(files=1, nbytes=location.raw_length)

    run_all(threads, fetch_pack, list(by_pack.items()), "prefetch")
    return Prefetched(ids, len(wanted), len(wanted) - len(missing), fetched.total)


def _chunks_of(repository: Repository, manifests: list[Manifest]) -> dict[bytes, Location]:
    wanted: dict[bytes, Location] = {}
    for manifest in manifests:
        for entry in manifest.entries:
            for _, chunks in entry.extents if entry.kind == "file" else []:
                for cid, _ in chunks:
                    location = repository.chunks.get(cid)
                    if location is None:
                        raise IntegrityError(
                            f"chunk {cid.hex()[:16]} of {entry.path} is in no index of"
                            f" {repository.store.describe()}: run `snapshot verify`"
                        )
                    wanted[cid] = location
    return wanted


def _get(repository: Repository, pack_id: str, start: int, length: int) -> bytes:
    try:
        data = repository.store.get(pack_key(pack_id), start, length)
    except ObjectNotFound:
        data = b""
    if len(data) != length:
        raise IntegrityError(
            f"{repository.store.describe()}/{pack_key(pack_id)} is missing or truncated:"
            " run `snapshot verify --read-data`"
        )
    return data


def _verified(
    repository: Repository, cid: bytes, location: Location, stored: memoryview
) -> bytes | memoryview:
    try:
        return repository.open_chunk(cid, location.codec, stored, location.raw_length)
    except CodecError as error:
        raise IntegrityError(
            f"chunk {cid.hex()[:16]} in {pack_key(location.pack_id)} {error}: not cached"
        ) from error


class _Counter:
    """Bytes downloaded, added from the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.total += n
