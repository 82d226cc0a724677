"""An encrypted repository (format 2): everything works as in a plain one, nothing in the
store reveals the workspace, and an object that is swapped, replayed, tampered with or
downgraded is refused with one line, never used."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree
from torpor.agent.snapshot.chunk_cache import ChunkCache
from torpor.agent.snapshot.codec import Compression
from torpor.agent.snapshot.create import CreateOptions, SnapshotCreator
from torpor.agent.snapshot.crypto import KeyFile, WrongKey
from torpor.agent.snapshot.errors import IntegrityError, SnapshotError
from torpor.agent.snapshot.format import (
    CONFIG_KEY,
    DATA_PREFIX,
    INDEX_PREFIX,
    SNAPSHOT_PREFIX,
    chunk_id,
    encode_config,
    snapshot_key,
)
from torpor.agent.snapshot.opening import EncryptionMismatch
from torpor.agent.snapshot.prefetch import prefetch
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.prune import prune
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.verify import verify

pytestmark = pytest.mark.unit

SECRET_TEXT = b"the-user's-aws-secret-access-key=wJalrXUtnFEMI/K7MDENG"


@pytest.fixture
def key() -> KeyFile:
    return KeyFile(os.urandom(32))


def create(store: MemoryStore, key: KeyFile | None, workspace: Path) -> str:
    repository = Repository.open_or_init(store, key=key)
    options = CreateOptions(
        workspace=workspace, compression=Compression.parse("zstd:3"), pack_size_bytes=1 << 20
    )
    return SnapshotCreator(repository, options, Progress("create")).run()[0]


def restore(store: MemoryStore, key: KeyFile | None, snapshot_id: str, target: Path) -> None:
    repository = Repository.open(store, key=key)
    manifest = repository.manifest(snapshot_id)
    Restorer(repository, manifest, target, 4, snapshot_id=snapshot_id).run(Progress("restore"))


def secret_tree(root: Path) -> Path:
    make_tree(root)
    (root / ".aws").mkdir()
    (root / ".aws" / "credentials").write_bytes(SECRET_TEXT * 3)
    return root


def test_an_encrypted_repository_round_trips_and_reveals_nothing(
    tmp_path: Path, key: KeyFile
) -> None:
    store = MemoryStore()
    source = secret_tree(tmp_path / "src")
    snapshot_id = create(store, key, source)
    restore(store, key, snapshot_id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(source)
    everything = b"".join(store.get(info.key) for info in store.list(""))
    for needle in (SECRET_TEXT[:24], b"credentials", b"notes.txt", b"hello\nhello", b".aws"):
        assert needle not in everything
    plain_id = chunk_id((source / ".aws" / "credentials").read_bytes())
    assert plain_id not in everything  # chunk ids are keyed: no cross-repository match


def test_incremental_prune_verify_and_prefetch_work_encrypted(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    source = secret_tree(tmp_path / "src")
    first = create(store, key, source)
    (source / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    second = create(store, key, source)
    repository = Repository.open(store, key=key)
    assert repository.manifest(second).stats.bytes_read < 3 * 1024 * 1024  # incremental
    repository.delete_snapshot(first)
    prune(Repository.open(store, key=key), dry_run=False, threads=2, pack_size_bytes=1 << 20)
    report = verify(
        Repository.open(store, key=key), read_data=True, threads=2, progress=Progress("v")
    )
    assert report.ok, report.problems
    cache = ChunkCache(tmp_path / "cache")
    prefetch(Repository.open(store, key=key), [second], cache, 2, Progress("prefetch"))
    repository = Repository.open(store, key=key)
    manifest = repository.manifest(second)
    Restorer(repository, manifest, tmp_path / "dst", 2, cache).run(Progress("restore"))
    assert describe(tmp_path / "dst") == describe(source)


def test_no_key_or_the_wrong_key_is_one_clear_line(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    create(store, key, secret_tree(tmp_path / "src"))
    with pytest.raises(EncryptionMismatch, match="is encrypted: give --key-file"):
        Repository.open(store)
    with pytest.raises(WrongKey) as wrong:
        Repository.open(store, key=KeyFile(os.urandom(32)))
    assert "\n" not in str(wrong.value)


def test_a_plain_config_planted_over_an_encrypted_one_is_refused(
    tmp_path: Path, key: KeyFile
) -> None:
    """The downgrade: a writer swaps in a plain config (and could then plant plain objects)."""
    store = MemoryStore()
    create(store, key, secret_tree(tmp_path / "src"))
    plain = MemoryStore()
    create(plain, None, tmp_path / "src")
    store.put(CONFIG_KEY, plain.get(CONFIG_KEY))
    with pytest.raises(EncryptionMismatch, match="not encrypted, but a key was given"):
        Repository.open(store, key=key)


def test_a_manifest_replayed_under_another_id_is_refused(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    source = secret_tree(tmp_path / "src")
    old = create(store, key, source)
    (source / "new-work.txt").write_text("today's work\n")
    new = create(store, key, source)
    store.put(snapshot_key(new), store.get(snapshot_key(old)))  # yesterday's, under today's id
    with pytest.raises(IntegrityError, match=f"object {snapshot_key(new)} .* is corrupt"):
        Repository.open(store, key=key).manifest(new)


def test_an_index_presented_as_a_manifest_is_refused(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    snapshot_id = create(store, key, secret_tree(tmp_path / "src"))
    index = next(store.list(INDEX_PREFIX))
    store.put(snapshot_key(snapshot_id), store.get(index.key))
    with pytest.raises(IntegrityError, match="is corrupt"):
        Repository.open(store, key=key).manifest(snapshot_id)


def test_a_flipped_bit_in_a_pack_or_its_table_is_found(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    snapshot_id = create(store, key, secret_tree(tmp_path / "src"))
    biggest = max(store.list(DATA_PREFIX), key=lambda info: info.size)
    data = bytearray(store.get(biggest.key))
    data[100] ^= 0x01
    store.put(biggest.key, bytes(data))
    with pytest.raises(IntegrityError, match="cannot be opened"):
        restore(store, key, snapshot_id, tmp_path / "dst")
    report = verify(
        Repository.open(store, key=key), read_data=True, threads=2, progress=Progress("v")
    )
    assert any(biggest.key in problem for problem in report.problems)


def test_blobs_swapped_between_chunk_ids_are_refused(tmp_path: Path, key: KeyFile) -> None:
    """A writer who reorders sealed blobs inside a pack (and fixes up nothing else, since it
    cannot reseal the table) gets a refusal, not another file's bytes in this one."""
    store = MemoryStore()
    source = tmp_path / "src"
    source.mkdir()
    (source / "one").write_bytes(b"1" * 100_000)
    (source / "two").write_bytes(b"2" * 100_000)
    snapshot_id = create(store, key, source)
    repository = Repository.open(store, key=key)
    repository.load_index()
    ((pack_id, records),) = repository.packs.items()
    first, second = records[0], records[1]
    key_name = next(store.list(DATA_PREFIX)).key
    data = bytearray(store.get(key_name))
    a = bytes(data[first.offset : first.offset + first.stored_length])
    b = bytes(data[second.offset : second.offset + second.stored_length])
    assert len(a) == len(b)  # same-sized blobs: the swap leaves every offset valid
    data[first.offset : first.offset + len(b)] = b
    data[second.offset : second.offset + len(a)] = a
    store.put(key_name, bytes(data))
    with pytest.raises(IntegrityError):
        restore(store, key, snapshot_id, tmp_path / "dst")
    assert pack_id and not any((tmp_path / "dst").rglob("one"))


def test_an_encrypted_repository_is_trusted_with_owners_and_setuid(
    tmp_path: Path, key: KeyFile
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "tool").write_bytes(b"#!/bin/sh\n")
    (source / "tool").chmod(0o4755)
    store = MemoryStore()
    snapshot_id = create(store, key, source)
    restore(store, key, snapshot_id, tmp_path / "dst")
    assert stat.S_IMODE((tmp_path / "dst" / "tool").stat().st_mode) == 0o4755
    plain = MemoryStore()
    plain_id = create(plain, None, source)
    restore(plain, None, plain_id, tmp_path / "plain")
    assert stat.S_IMODE((tmp_path / "plain" / "tool").stat().st_mode) == 0o755


def test_a_plain_repository_still_reads_and_refuses_a_key(tmp_path: Path, key: KeyFile) -> None:
    store = MemoryStore()
    source = secret_tree(tmp_path / "src")
    snapshot_id = create(store, None, source)
    assert b'"version": 1' in store.get(CONFIG_KEY)
    restore(store, None, snapshot_id, tmp_path / "dst")
    assert describe(tmp_path / "dst") == describe(source)
    with pytest.raises(SnapshotError, match="not encrypted"):
        Repository.open(store, key=key)
    assert encode_config(Repository.open(store).config).startswith(b"{")
    assert next(store.list(SNAPSHOT_PREFIX)).key == snapshot_key(snapshot_id)
