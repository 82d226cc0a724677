"""A warm standby's chunk cache: prefetch snapshot A, and restoring B (5% changed) downloads
only what changed; the cache is hash-checked, bounded and never serves wrong bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.faulty_store import FaultyStore
from tests.support.trees import describe
from torpor.agent.snapshot.chunk_cache import ChunkCache
from torpor.agent.snapshot.format import DATA_PREFIX, chunk_id
from torpor.agent.snapshot.prefetch import prefetch
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.memory import MemoryStore

from .conftest import Create

pytestmark = pytest.mark.unit

FILES = 20
FILE_BYTES = 512 * 1024


class CountingStore(FaultyStore):
    """Counts the bytes read from packs (every GET under data/)."""

    pack_bytes: int = 0

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        data = super().get(key, start, length)
        if key.startswith(DATA_PREFIX):
            with self._lock:
                self.pack_bytes += len(data)
        return data


def workspace(root: Path) -> Path:
    root.mkdir()
    for i in range(FILES):
        (root / f"part-{i:02d}.bin").write_bytes(os.urandom(FILE_BYTES))
    return root


def change_five_percent(root: Path) -> None:
    (root / "part-07.bin").write_bytes(os.urandom(FILE_BYTES))  # 1 of 20 files


def restore(store: FaultyStore, snapshot_id: str, target: Path, cache: ChunkCache | None) -> None:
    repository = Repository.open(store)
    manifest = repository.manifest(snapshot_id)
    Restorer(repository, manifest, target, 4, cache).run(Progress("restore"))


def test_restore_after_prefetch_downloads_only_the_change(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = workspace(tmp_path / "src")
    a, _ = create(source, compression="none")
    cache = ChunkCache(tmp_path / "cache", 1024**3)
    counting = CountingStore(store)
    done = prefetch(Repository.open(counting), [a[:12]], cache, 4, Progress("prefetch"))
    assert done.snapshot_ids == [a] and done.already_cached == 0
    assert done.fetched_bytes >= FILES * FILE_BYTES
    change_five_percent(source)
    b, _ = create(source, compression="none")

    counting.pack_bytes = 0
    restore(counting, b, tmp_path / "warm", cache)
    assert describe(tmp_path / "warm") == describe(source)
    assert FILE_BYTES <= counting.pack_bytes <= 0.10 * FILES * FILE_BYTES

    counting.pack_bytes = 0
    restore(counting, b, tmp_path / "cold", None)
    assert counting.pack_bytes >= FILES * FILE_BYTES  # without the cache: everything


def test_second_prefetch_downloads_nothing(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    a, _ = create(workspace(tmp_path / "src"))
    cache = ChunkCache(tmp_path / "cache", 1024**3)
    prefetch(Repository.open(store), [a], cache, 4, Progress("prefetch"))
    again = prefetch(Repository.open(store), [a], cache, 4, Progress("prefetch"))
    assert again.fetched_bytes == 0 and again.already_cached == again.chunks > 0


def test_a_damaged_cached_chunk_is_downloaded_instead(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = workspace(tmp_path / "src")
    a, _ = create(source)
    cache = ChunkCache(tmp_path / "cache", 1024**3)
    prefetch(Repository.open(store), [a], cache, 4, Progress("prefetch"))
    damaged = next((tmp_path / "cache").glob("*/*"))
    damaged.write_bytes(b"not the chunk")
    counting = CountingStore(store)
    restore(counting, a, tmp_path / "dst", cache)
    assert describe(tmp_path / "dst") == describe(source)
    assert 0 < counting.pack_bytes < 2 * FILE_BYTES  # only the damaged chunk


def test_cache_stays_under_its_bound_evicting_least_recently_used(tmp_path: Path) -> None:
    cache = ChunkCache(tmp_path / "cache", max_bytes=3 * 1005)  # 3 blobs and their headers
    chunks = [os.urandom(1000) for _ in range(4)]
    for number, plain in enumerate(chunks[:3]):
        cache.put(chunk_id(plain), 0, len(plain), plain)
        path = cache.root / chunk_id(plain).hex()[:2] / chunk_id(plain).hex()
        os.utime(path, (1000 + number, 1000 + number))
    cached = cache.get(chunk_id(chunks[0]))  # used: now the most recent
    assert cached is not None and cached.blob == chunks[0]
    cache.put(chunk_id(chunks[3]), 0, len(chunks[3]), chunks[3])
    assert cache.used_bytes() <= 3 * 1005
    assert not cache.has(chunk_id(chunks[1]))  # the least recently used went
    assert cache.has(chunk_id(chunks[0])) and cache.has(chunk_id(chunks[3]))
