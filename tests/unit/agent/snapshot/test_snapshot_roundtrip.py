"""A workspace goes in and comes back byte for byte, with its metadata, on every codec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.memory import MemoryStore

from .conftest import Create

pytestmark = pytest.mark.unit


def restore(store: MemoryStore, snapshot_id: str, target: Path) -> None:
    repository = Repository.open(store)
    Restorer(repository, repository.manifest(snapshot_id), target, 4).run(Progress("restore"))


@pytest.mark.parametrize("compression", ["zstd:1", "zstd:3", "lz4", "none"])
def test_restore_is_identical(
    tmp_path: Path, store: MemoryStore, create: Create, compression: str
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot_id, manifest = create(source, compression=compression)
    restore(store, snapshot_id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(source)
    assert manifest.stats.files == 7 and manifest.stats.symlinks == 2


def test_sparse_file_keeps_its_holes(tmp_path: Path, store: MemoryStore, create: Create) -> None:
    source = make_tree(tmp_path / "src")
    snapshot_id, manifest = create(source)
    restore(store, snapshot_id, tmp_path / "dst")
    restored = (tmp_path / "dst" / "sparse.img").stat()
    assert restored.st_size == 64 * 1024 * 1024
    assert restored.st_blocks * 512 < 1024 * 1024
    assert manifest.stats.bytes_read < 8 * 1024 * 1024  # holes were not read


def test_hard_link_is_restored_as_a_link(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"))
    restore(store, snapshot_id, tmp_path / "dst")
    a, b = (tmp_path / "dst" / "hard.py").stat(), (tmp_path / "dst" / "a/b/small.py").stat()
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)


def test_restore_over_an_existing_tree_replaces_what_differs(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot_id, _ = create(source)
    target = tmp_path / "dst"
    (target / "a").mkdir(parents=True)
    (target / "a" / "notes.txt").write_text("stale")
    (target / "big.bin").mkdir()  # a directory where the snapshot has a file
    restore(store, snapshot_id, target)
    assert describe(target) == describe(source)
    assert not [p for p in target.rglob(".torpor-restore-*")]


def test_unchanged_files_are_not_read_again(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src")
    first_id, _ = create(source)
    second_id, second = create(source)
    assert second.parent == first_id
    assert second.stats.bytes_read == 0 and second.stats.bytes_new == 0
    assert second_id != first_id  # a new snapshot, sharing every chunk


def test_an_edit_inside_a_big_file_uploads_only_nearby_chunks(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=24 * 1024 * 1024)
    create(source)
    with (source / "big.bin").open("r+b") as f:
        f.seek(10 * 1024 * 1024)
        f.write(b"changed!" * 512)
    snapshot_id, manifest = create(source)
    assert manifest.stats.bytes_read == 24 * 1024 * 1024
    assert manifest.stats.bytes_new < 6 * 1024 * 1024  # a few chunks, not 24 MiB
    restore(store, snapshot_id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(source)


def test_inserted_bytes_shift_boundaries_only_locally(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=24 * 1024 * 1024)
    create(source)
    data = (source / "big.bin").read_bytes()
    (source / "big.bin").write_bytes(data[:5_000_000] + b"inserted" + data[5_000_000:])
    _, manifest = create(source)
    assert manifest.stats.bytes_new < 6 * 1024 * 1024


def test_identical_content_is_stored_once(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    payload = os.urandom(3 * 1024 * 1024)
    for name in ("one", "two", "three"):
        (source / name).write_bytes(payload)
    _, manifest = create(source)
    assert manifest.stats.bytes_new == len(payload)


def test_incompressible_chunks_are_stored_raw(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "random").write_bytes(os.urandom(2 * 1024 * 1024))
    (source / "text").write_text("abc" * 1_000_000)
    _, manifest = create(source)
    repository = Repository.open(store)
    repository.load_index()
    codecs = {loc.raw_length: loc.codec for loc in repository.chunks.values()}
    assert 0 in codecs.values() and 1 in codecs.values()
    assert manifest.stats.stored_new < manifest.stats.bytes_new


def test_a_gib_costs_tens_of_writes_not_thousands(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(400):  # many small files share packs
        (source / f"f{i}").write_bytes(os.urandom(20_000))
    _, manifest = create(source, pack_size_bytes=4 * 1024 * 1024)
    assert manifest.stats.packs_written == 2
