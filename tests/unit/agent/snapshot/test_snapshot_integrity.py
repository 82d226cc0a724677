"""Damage is found and named, never restored silently; a failed create leaves a valid repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faulty_store import FaultyStore
from tests.support.trees import describe, make_tree
from torpor.agent.snapshot.codec import Compression
from torpor.agent.snapshot.create import CreateOptions, SnapshotCreator
from torpor.agent.snapshot.errors import IntegrityError
from torpor.agent.snapshot.format import DATA_PREFIX, INDEX_PREFIX, SNAPSHOT_PREFIX, pack_key
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.base import ObjectStore, StoreError
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.verify import verify

from .conftest import Create

pytestmark = pytest.mark.unit


def restore(store: ObjectStore, snapshot_id: str, target: Path) -> None:
    repository = Repository.open(store)
    Restorer(repository, repository.manifest(snapshot_id), target, 4).run(Progress("restore"))


def damage_pack_holding(store: MemoryStore, path: str, snapshot_id: str) -> str:
    """Flips one byte of the first chunk of `path`; returns the pack's key."""
    repository = Repository.open(store)
    repository.load_index()
    entry = next(e for e in repository.manifest(snapshot_id).entries if e.path == path)
    location = repository.chunks[entry.extents[0][1][0][0]]
    key = pack_key(location.pack_id)
    data = bytearray(store.get(key))
    data[location.offset + 10] ^= 0xFF
    store.put(key, bytes(data))
    return key


def test_a_corrupt_chunk_stops_restore_naming_file_and_object(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot_id, _ = create(source, compression="none")
    key = damage_pack_holding(store, "big.bin", snapshot_id)
    with pytest.raises(IntegrityError) as caught:
        restore(store, snapshot_id, tmp_path / "dst")
    message = str(caught.value)
    assert "big.bin" in message and key in message
    assert not (tmp_path / "dst" / "big.bin").exists()  # never a silently wrong file
    assert not list((tmp_path / "dst").rglob(".torpor-restore-*"))


def test_a_missing_pack_stops_restore_naming_it(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"))
    victim = next(store.list(DATA_PREFIX)).key
    store.delete(victim)
    with pytest.raises(IntegrityError, match=f"{victim} is missing"):
        restore(store, snapshot_id, tmp_path / "dst")


def test_verify_reads_data_and_finds_the_damage(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"), compression="none")
    repository = Repository.open(store)
    clean = verify(repository, read_data=True, threads=2, progress=Progress("verify"))
    assert clean.ok and clean.snapshots == 1
    key = damage_pack_holding(store, "big.bin", snapshot_id)
    quick = verify(Repository.open(store), read_data=False, threads=2, progress=Progress("v"))
    assert quick.ok  # metadata is consistent; only reading the data finds a flipped byte
    full = verify(Repository.open(store), read_data=True, threads=2, progress=Progress("v"))
    assert any(key in problem for problem in full.problems)


def assert_valid(store: ObjectStore) -> None:
    """No manifest points at data that is not indexed in a durable pack."""
    repository = Repository.open(store)
    report = verify(repository, read_data=True, threads=2, progress=Progress("verify"))
    assert report.ok, report.problems


def count_puts(source: Path, options: CreateOptions) -> int:
    inner = MemoryStore()
    Repository.open_or_init(inner)
    recorder = FaultyStore(inner)
    SnapshotCreator(Repository.open(recorder), options, Progress("c")).run()
    return sum(1 for op, _ in recorder.calls if op == "put")


def test_a_create_cut_at_every_write_leaves_a_valid_repository_and_the_next_one_reuses_it(
    tmp_path: Path,
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=16 * 1024 * 1024)
    options = CreateOptions(source, Compression.parse("none"), pack_size_bytes=1024 * 1024)
    puts = count_puts(source, options)
    assert puts >= 10  # packs, two indexes (one every 8 packs), the manifest
    for fail_at in range(1, puts + 1):
        inner = MemoryStore()
        Repository.open_or_init(inner)
        faulty = FaultyStore(inner, fail_put_number=fail_at)
        with pytest.raises(StoreError):
            SnapshotCreator(Repository.open(faulty), options, Progress("c")).run()
        assert_valid(inner)
        uploaded = sum(i.size for i in inner.list(DATA_PREFIX))
        snapshot_id, manifest = SnapshotCreator(
            Repository.open(inner), options, Progress("c")
        ).run()
        # what the cut run uploaded is adopted, not uploaded again
        assert manifest.stats.stored_new + uploaded <= manifest.stats.bytes_read + 1024 * 1024
        assert_valid(inner)
        target = tmp_path / f"dst{fail_at}"
        restore(inner, snapshot_id, target)
        assert describe(target) == describe(source)


def test_writes_happen_in_order_packs_index_manifest(tmp_path: Path) -> None:
    inner = MemoryStore()
    Repository.open_or_init(inner)
    recorder = FaultyStore(inner)
    options = CreateOptions(make_tree(tmp_path / "src"), pack_size_bytes=1024 * 1024)
    SnapshotCreator(Repository.open(recorder), options, Progress("c")).run()
    puts = [key for op, key in recorder.calls if op == "put"]
    kinds = [key.split("/")[0] + "/" for key in puts]
    assert kinds[-1] == SNAPSHOT_PREFIX and kinds.count(SNAPSHOT_PREFIX) == 1
    last_pack = max(i for i, k in enumerate(kinds) if k == DATA_PREFIX)
    assert kinds[last_pack + 1 :].count(INDEX_PREFIX) >= 1  # the last packs are indexed after


def test_the_manifest_is_never_overwritten(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"))
    key = f"{SNAPSHOT_PREFIX}{snapshot_id}"
    with pytest.raises(StoreError):
        store.put(key, b"other", if_absent=True)
    assert Repository.open(store).manifest(snapshot_id).stats.files == 7
