"""A host's cache holds no instance's data but its tenant's: prefetched chunks are cached as
stored (ciphertext for an encrypted repository), each instance in its own partition, and
claiming the host for an instance deletes every other partition before it is served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.trees import describe
from torpor.agent.snapshot.chunk_cache import CacheRevoked, ChunkCache
from torpor.agent.snapshot.codec import Compression
from torpor.agent.snapshot.create import CreateOptions, SnapshotCreator
from torpor.agent.snapshot.crypto import KeyFile
from torpor.agent.snapshot.errors import SnapshotError
from torpor.agent.snapshot.format import DATA_PREFIX
from torpor.agent.snapshot.prefetch import prefetch
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.tenancy import TRASH, CacheTenancy

pytestmark = pytest.mark.unit

MARKER = b"TEAM-X-PLAINTEXT-MARKER-7d1c"


def workspace(root: Path) -> Path:
    root.mkdir()
    (root / "notes.txt").write_bytes(MARKER * 2000)  # compressible: stored zstd
    (root / "weights.bin").write_bytes(MARKER + os.urandom(600_000) + MARKER)  # stored raw
    return root


def snapshot(store: MemoryStore, key: KeyFile | None, source: Path) -> str:
    repository = Repository.open_or_init(store, key=key)
    options = CreateOptions(
        workspace=source, compression=Compression.parse("zstd:1"), pack_size_bytes=1 << 20
    )
    return SnapshotCreator(repository, options, Progress("create")).run()[0]


def every_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def partition_cache(tenancy: CacheTenancy, instance_id: str) -> ChunkCache:
    root = tenancy.partition(instance_id) / "chunks"
    return ChunkCache(
        root, 1 << 30, scope=tenancy.cache_dir, admit=lambda: tenancy.admit(instance_id)
    )


class Counting(MemoryStore):
    def __init__(self, inner: MemoryStore) -> None:
        super().__init__()
        self._objects = inner._objects  # type: ignore[attr-defined]
        self.pack_bytes = 0

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        data = super().get(key, start, length)
        if key.startswith(DATA_PREFIX):
            self.pack_bytes += len(data)
        return data


def test_an_encrypted_prefetch_caches_ciphertext_that_restores_with_its_key(
    tmp_path: Path,
) -> None:
    store, key = MemoryStore(), KeyFile(os.urandom(32))
    source = workspace(tmp_path / "src")
    snapshot_id = snapshot(store, key, source)
    cache = ChunkCache(tmp_path / "cache", 1 << 30)
    done = prefetch(Repository.open(store, key=key), [snapshot_id], cache, 2, Progress("p"))
    assert done.chunks > 0 and cache.used_bytes() > 600_000
    assert MARKER not in every_byte(tmp_path / "cache")  # sealed blobs only
    counting = Counting(store)
    repository = Repository.open(counting, key=key)
    manifest = repository.manifest(snapshot_id)
    Restorer(repository, manifest, tmp_path / "dst", 2, cache).run(Progress("r"))
    assert describe(tmp_path / "dst") == describe(source)
    assert counting.pack_bytes == 0  # every chunk came from the cache


def test_a_cached_blob_of_another_key_is_discarded_and_downloaded(tmp_path: Path) -> None:
    """The same tree in two repositories: their chunk ids differ (keyed), and a blob put
    under the other's id does not open: nothing wrong is written, the chunk is fetched."""
    store, key = MemoryStore(), KeyFile(os.urandom(32))
    snapshot_id = snapshot(store, key, workspace(tmp_path / "src"))
    cache = ChunkCache(tmp_path / "cache", 1 << 30)
    prefetch(Repository.open(store, key=key), [snapshot_id], cache, 2, Progress("p"))
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file():
            entry.write_bytes(entry.read_bytes()[:5] + os.urandom(entry.stat().st_size - 5))
    repository = Repository.open(store, key=key)
    manifest = repository.manifest(snapshot_id)
    Restorer(repository, manifest, tmp_path / "dst", 2, cache).run(Progress("r"))
    assert describe(tmp_path / "dst") == describe(tmp_path / "src")
    assert cache.used_bytes() == 0  # every bad entry went


def test_a_shared_standby_refuses_an_unencrypted_repository(tmp_path: Path) -> None:
    store = MemoryStore()
    snapshot_id = snapshot(store, None, workspace(tmp_path / "src"))
    cache = ChunkCache(tmp_path / "cache", 1 << 30)
    with pytest.raises(SnapshotError, match="not encrypted: a shared standby"):
        prefetch(
            Repository.open(store), [snapshot_id], cache, 2, Progress("p"), require_encrypted=True
        )
    assert not (tmp_path / "cache").exists()


def test_claiming_deletes_every_other_instance_and_unattributed_content(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "state" / "cache")
    for instance_id in ("i-x", "i-y", "i-z"):
        partition_cache(tenancy, instance_id).put(os.urandom(32), 0, 6, instance_id.encode() * 2)
    (tenancy.cache_dir / "chunks" / "ab").mkdir(parents=True)  # the CLI's, unattributed
    (tenancy.cache_dir / "chunks" / "ab" / ("ab" * 32)).write_bytes(b"left by the CLI")
    (tenancy.cache_dir / ("0" * 32)).mkdir()  # a metadata cache of some repository
    assert tenancy.claim("i-y") == 4
    left = sorted(p.relative_to(tenancy.cache_dir).parts[:2] for p in tenancy.cache_dir.rglob("*"))
    assert {parts for parts in left} == {("instances",), ("instances", "i-y")}
    assert b"i-y" in every_byte(tenancy.cache_dir)
    assert not (tmp_path / "state" / TRASH).exists()
    assert tenancy.tenant == "i-y"


def test_after_a_claim_nothing_more_is_cached_for_another_instance(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    other = partition_cache(tenancy, "i-x")
    other.put(os.urandom(32), 0, 1, b"x")
    tenancy.claim("i-y")
    with pytest.raises(CacheRevoked, match="serves another instance"):
        other.put(os.urandom(32), 0, 1, b"x")
    with pytest.raises(SnapshotError, match="serves instance i-y"):
        tenancy.refuse_unless_mine("i-x")
    tenancy.refuse_unless_mine("i-y")
    assert not tenancy.partition("i-x").exists()


def test_a_claim_for_no_known_instance_keeps_nothing(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    partition_cache(tenancy, "i-x").put(os.urandom(32), 0, 1, b"x")
    tenancy.claim(None)
    assert every_byte(tmp_path) == b""


def test_what_a_crash_left_moved_out_is_deleted_by_the_next_sweep(tmp_path: Path) -> None:
    trash = tmp_path / TRASH / "0123"
    trash.mkdir(parents=True)
    (trash / "chunk").write_bytes(MARKER)
    CacheTenancy(tmp_path / "cache").sweep()
    assert not (tmp_path / TRASH).exists()


def test_a_partition_is_named_only_by_a_plain_instance_id(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    for hostile in ("../x", "a/b", ".hidden", "x" * 65):
        with pytest.raises(SnapshotError, match="cannot name a cache partition"):
            tenancy.partition(hostile)
    assert tenancy.partition("") == tenancy.cache_dir
