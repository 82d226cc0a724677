"""A repository written by someone hostile is read safely: every decode is bounded, every
failure is one line naming the object, and one bad object never blocks the others.

Whoever can write the bucket can put any bytes under any key. These tests plant such
objects (zstd bombs, truncated and random bytes, msgpack of the wrong shape, out-of-range
numbers, keys that are not ids) next to real snapshots and check what each reader does.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import msgspec
import pytest
import zstandard

from tests.support.tree_hash import fingerprint
from tests.support.trees import describe, make_tree
from torpor.agent.snapshot import cli, operations
from torpor.agent.snapshot.chunk_cache import ChunkCache
from torpor.agent.snapshot.codec import CodecError, decompress
from torpor.agent.snapshot.decoding import Undecodable, inflate
from torpor.agent.snapshot.errors import IntegrityError, SnapshotError
from torpor.agent.snapshot.format import (
    CONFIG_KEY,
    DATA_PREFIX,
    INDEX_PREFIX,
    MAX_CHUNK_BYTES,
    MAX_CONFIG_BYTES,
    MAX_INDEX_BYTES,
    MAX_MANIFEST_BYTES,
    PACK_MAGIC,
    PIN_PREFIX,
    SNAPSHOT_PREFIX,
    Codec,
    Entry,
    Manifest,
    SnapshotStats,
    content_id,
    encode_metadata,
    index_key,
    pack_key,
    snapshot_key,
)
from torpor.agent.snapshot.pack import PackFormatError, decode_table, table_length
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.prune import prune
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.retention import RetentionPolicy
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.verify import verify

from .conftest import Create, settings

pytestmark = pytest.mark.unit

MiB = 1024 * 1024
BOMB_SECONDS = 5.0  # refusing a bomb takes milliseconds; inflating one takes seconds
BOMB_MEMORY_BYTES = 64 * MiB  # what a refused bomb may cost, at most (it claims GiBs)
CID = bytes(range(32))
PACK_ID = "ab" * 32


# ---- planting objects --------------------------------------------------------------------


def zeros_compressed(total_bytes: int, *, declare_size: bool) -> bytes:
    """`total_bytes` of zeros as one zstd frame, compressed as a stream (never held whole);
    the frame header declares the size or not."""
    out = io.BytesIO()
    zeros = bytes(MiB)
    size = total_bytes if declare_size else -1
    compressor = zstandard.ZstdCompressor(level=1)
    with compressor.stream_writer(out, size=size, closefd=False) as writer:
        for _ in range(total_bytes // MiB):
            writer.write(zeros)
    return out.getvalue()


def zstd_msgpack(value: object) -> bytes:
    """Any value as an index or manifest object would be encoded, with no bound checked."""
    return zstandard.ZstdCompressor().compress(msgspec.msgpack.encode(value))


def plant(store: MemoryStore, prefix: str, data: bytes) -> str:
    """Stores `data` where an object of its content id belongs (so its hash matches)."""
    object_id = content_id(data)
    store.put(pack_key(object_id) if prefix == DATA_PREFIX else f"{prefix}{object_id}", data)
    return object_id


def manifest_of(entries: list[Entry], **fields: object) -> Manifest:
    values: dict[str, object] = {
        "version": 1,
        "time": "2024-05-01T12:00:00+00:00",
        "hostname": "h",
        "workspace": "/w",
        "tags": [],
        "parent": None,
        "stats": SnapshotStats(),
        "entries": entries,
    } | fields
    return Manifest(**values)  # type: ignore[arg-type]


def file_entry(**fields: object) -> Entry:
    values: dict[str, object] = {"path": "f", "kind": "file", "mode": 0o644, "uid": 0}
    values |= {"gid": 0, "mtime_ns": 0, "size": 10, "extents": [(0, [(CID, 10)])]} | fields
    return Entry(**values)  # type: ignore[arg-type]


def assert_one_line_naming(error: BaseException, key: str) -> None:
    message = str(error)
    assert "\n" not in message and key in message, message
    assert "Traceback" not in message


@contextmanager
def bounded_memory(limit_bytes: int) -> Iterator[None]:
    """Fails if Python allocations (bytes objects included) peak above `limit_bytes`, or
    the block takes longer than BOMB_SECONDS."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < BOMB_SECONDS
    assert peak < limit_bytes, f"peak {peak} bytes"


# ---- bounded decoding ----------------------------------------------------------------------


@pytest.mark.parametrize("declare_size", [True, False])
def test_inflating_stops_at_the_cap_whatever_the_frame_declares(declare_size: bool) -> None:
    bomb = zeros_compressed(1024 * MiB, declare_size=declare_size)
    assert len(bomb) < 64 * 1024
    with bounded_memory(4 * 8 * MiB), pytest.raises(Undecodable, match="limit"):
        inflate(bomb, 8 * MiB)
    assert inflate(zeros_compressed(8 * MiB, declare_size=declare_size), 8 * MiB) == bytes(8 * MiB)


def test_a_zstd_bomb_manifest_is_refused_before_it_inflates(store: MemoryStore) -> None:
    Repository.open_or_init(store)
    bomb = zeros_compressed(MAX_MANIFEST_BYTES + 1024 * MiB, declare_size=True)
    snapshot_id = plant(store, SNAPSHOT_PREFIX, bomb)
    repository = Repository.open(store)
    with bounded_memory(BOMB_MEMORY_BYTES), pytest.raises(IntegrityError) as refused:
        repository.manifest(snapshot_id)
    assert_one_line_naming(refused.value, snapshot_key(snapshot_id))
    assert "limit" in str(refused.value)
    with bounded_memory(BOMB_MEMORY_BYTES):
        assert [bad.id for bad in repository.catalog().unreadable] == [snapshot_id]


def test_a_zstd_bomb_index_is_skipped_before_it_inflates(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    Repository.open_or_init(store)
    index_id = plant(store, INDEX_PREFIX, zeros_compressed(2 * MAX_INDEX_BYTES, declare_size=True))
    repository = Repository.open(store)
    with bounded_memory(BOMB_MEMORY_BYTES), caplog.at_level(logging.WARNING):
        repository.load_index()
    assert "limit" in repository.unreadable_indexes[index_id]
    assert index_key(index_id) in caplog.text


def test_an_object_bigger_than_its_kind_allows_is_not_read_whole(store: MemoryStore) -> None:
    Repository.open_or_init(store)
    store.put(CONFIG_KEY, b" " * (4 * MAX_CONFIG_BYTES))
    with pytest.raises(IntegrityError, match="limit") as refused:
        Repository.open(store)
    assert_one_line_naming(refused.value, CONFIG_KEY)


def test_a_chunk_frame_declaring_more_than_its_raw_length_is_refused() -> None:
    bomb = zeros_compressed(1024 * MiB, declare_size=True)
    with bounded_memory(BOMB_MEMORY_BYTES), pytest.raises(CodecError, match="declares"):
        decompress(Codec.ZSTD, bomb, 4096)


def test_the_writers_never_write_what_the_readers_refuse() -> None:
    with pytest.raises(SnapshotError, match="limit"):
        encode_metadata(manifest_of([file_entry()] * 100), 1000, "the manifest")


# ---- damaged and crafted manifests ---------------------------------------------------------


def _with_invalid_utf8() -> bytes:
    raw = msgspec.msgpack.encode(manifest_of([], hostname="HOSTNAME"))
    return zstandard.ZstdCompressor().compress(raw.replace(b"HOSTNAME", b"\xff\xfe\xfd\xfc" * 2))


def _truncated() -> bytes:
    return encode_metadata(manifest_of([file_entry()] * 50), MAX_MANIFEST_BYTES, "m")[:-20]


BAD_MANIFESTS: dict[str, Callable[[], bytes]] = {
    "random bytes": lambda: os.urandom(4096),
    "empty": lambda: b"",
    "truncated": _truncated,
    "zstd of random bytes": lambda: zstandard.ZstdCompressor().compress(os.urandom(4096)),
    "wrong shape": lambda: zstd_msgpack([1, 2, 3]),
    "a dict of the wrong fields": lambda: zstd_msgpack({"entries": "everything"}),
    "not UTF-8": _with_invalid_utf8,
    "negative size": lambda: zstd_msgpack(manifest_of([file_entry(size=-1)])),
    "size past off_t": lambda: zstd_msgpack(manifest_of([file_entry(size=2**63)])),
    "mtime that is text": lambda: zstd_msgpack(manifest_of([file_entry(mtime_ns="noon")])),
    "31-byte chunk id": lambda: zstd_msgpack(
        manifest_of([file_entry(extents=[(0, [(CID[:31], 10)])])])
    ),
    "negative extent offset": lambda: zstd_msgpack(
        manifest_of([file_entry(extents=[(-4096, [(CID, 10)])])])
    ),
    "chunk over the maximum": lambda: zstd_msgpack(
        manifest_of([file_entry(size=2**40, extents=[(0, [(CID, MAX_CHUNK_BYTES + 1)])])])
    ),
    "extents past the size": lambda: zstd_msgpack(manifest_of([file_entry(size=5)])),
    "overlapping extents": lambda: zstd_msgpack(
        manifest_of([file_entry(size=30, extents=[(0, [(CID, 10)]), (5, [(CID, 10)])])])
    ),
    "time that does not parse": lambda: zstd_msgpack(manifest_of([], time="yesterday")),
    "parent that is no id": lambda: zstd_msgpack(manifest_of([], parent="../../etc")),
    "newer format version": lambda: zstd_msgpack(manifest_of([], version=99)),
    "negative stats": lambda: zstd_msgpack(manifest_of([], stats={"files": -3})),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_bad_manifest_is_one_line_naming_it_and_listed_as_unreadable(
    tmp_path: Path, store: MemoryStore, create: Create, case: str
) -> None:
    good, _ = create(make_tree(tmp_path / "src"))
    bad = plant(store, SNAPSHOT_PREFIX, BAD_MANIFESTS[case]())
    repository = Repository.open(store)
    with pytest.raises(IntegrityError) as refused:
        repository.manifest(bad)
    assert_one_line_naming(refused.value, snapshot_key(bad))
    assert "snapshot verify" in str(refused.value)
    catalog = repository.catalog()
    assert [info.id for info in catalog.readable] == [good]
    assert [u.id for u in catalog.unreadable] == [bad]
    assert "\n" not in catalog.unreadable[0].reason


def test_a_manifest_that_does_not_match_its_hash_is_unreadable(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"))
    store.put(snapshot_key(snapshot_id), zstd_msgpack(manifest_of([])))
    with pytest.raises(IntegrityError, match="does not match its hash") as refused:
        Repository.open(store).manifest(snapshot_id)
    assert_one_line_naming(refused.value, snapshot_key(snapshot_id))


# ---- damaged and crafted index objects -----------------------------------------------------


def record(**fields: int | bytes) -> list[object]:
    values: dict[str, int | bytes] = {"chunk_id": CID, "offset": 0, "stored_length": 10}
    values |= {"raw_length": 10, "codec": 1} | fields
    return list(values.values())


BAD_INDEXES: dict[str, Callable[[], bytes]] = {
    "random bytes": lambda: os.urandom(1000),
    "truncated": lambda: zstd_msgpack({PACK_ID: [record()] * 100})[:-10],
    "wrong shape": lambda: zstd_msgpack([[1, 2], [3]]),
    "negative offset": lambda: zstd_msgpack({PACK_ID: [record(offset=-1)]}),
    "31-byte chunk id": lambda: zstd_msgpack({PACK_ID: [record(chunk_id=CID[:31])]}),
    "unknown codec": lambda: zstd_msgpack({PACK_ID: [record(codec=7)]}),
    "raw length over the maximum": lambda: zstd_msgpack(
        {PACK_ID: [record(raw_length=MAX_CHUNK_BYTES + 1)]}
    ),
    "pack id that is no id": lambda: zstd_msgpack({"../../x": [record()]}),
    "upper-case pack id": lambda: zstd_msgpack({PACK_ID.upper(): [record()]}),
}


@pytest.mark.parametrize("case", sorted(BAD_INDEXES))
def test_a_bad_index_object_is_skipped_with_a_warning_and_verify_names_it(
    tmp_path: Path,
    store: MemoryStore,
    create: Create,
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create(make_tree(tmp_path / "src"))
    bad = plant(store, INDEX_PREFIX, BAD_INDEXES[case]())
    repository = Repository.open(store)
    with caplog.at_level(logging.WARNING):
        repository.load_index()
    assert bad in repository.unreadable_indexes and repository.chunks  # the others loaded
    warned = [r.getMessage() for r in caplog.records if index_key(bad) in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0]
    report = verify(Repository.open(store), read_data=False, threads=2, progress=Progress("v"))
    assert [p for p in report.problems if index_key(bad) in p and "unreadable" in p]


# ---- pack tables ---------------------------------------------------------------------------


def trailer(length: int) -> bytes:
    return length.to_bytes(4, "little") + PACK_MAGIC


def test_a_pack_table_longer_than_its_pack_is_refused() -> None:
    pack = b"blob" + trailer(1 << 30)
    with pytest.raises(PackFormatError, match="does not fit"):
        table_length(pack[-8:], len(pack))
    with pytest.raises(PackFormatError, match="trailer"):
        table_length(b"TPK1", 4)


def test_a_pack_table_record_outside_the_blobs_is_refused() -> None:
    table = msgspec.msgpack.encode([record(offset=90, stored_length=20)])
    with pytest.raises(PackFormatError, match="past byte 100"):
        decode_table(table, 100)
    with pytest.raises(PackFormatError, match="damaged"):
        decode_table(msgspec.msgpack.encode([record(chunk_id=CID[:31])]), 100)


@pytest.mark.parametrize(
    "pack",
    [
        b"blob" + trailer(1 << 30),  # the table would start before the pack
        b"blob" + msgspec.msgpack.encode([record(offset=2, stored_length=50)]) + trailer(21),
        b"no trailer",
        b"blob" + b"x" * 20 + (20).to_bytes(4, "little") + b"NOPE",
    ],
)
def test_a_damaged_orphan_pack_is_not_adopted(
    store: MemoryStore, pack: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    Repository.open_or_init(store)
    pack_id = plant(store, DATA_PREFIX, pack)
    repository = Repository.open(store)
    with caplog.at_level(logging.WARNING):
        assert repository.adopt_orphan_packs() == 0
    assert pack_key(pack_id) in caplog.text and pack_id not in repository.packs


# ---- the config ----------------------------------------------------------------------------


def config_json(**changes: object) -> bytes:
    config: dict[str, object] = {
        "format": "torpor-snapshot",
        "version": 1,
        "id": "0" * 32,
        "created": "2024-01-01T00:00:00+00:00",
        "chunker": {},
    }
    return json.dumps(config | changes).encode()


BAD_CONFIGS = {
    "id that climbs out": config_json(id="../../x"),
    "id with a slash": config_json(id="0" * 15 + "/" + "0" * 16),
    "upper-case id": config_json(id="A" * 32),
    "id with a newline": config_json(id="0" * 32 + "\n"),
    "chunker min over max": config_json(chunker={"min_size": 2 * MiB, "max_size": MiB}),
    "chunker max of a TiB": config_json(chunker={"max_size": 1 << 40}),
    "chunker seed over 64 bits": config_json(chunker={"seed": 2**70}),
    "unknown hash": config_json(hash="md5"),
    "not JSON": b"\x00\x01garbage",
    "not UTF-8": b'{"format": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_config_is_refused_and_nothing_is_written_outside_the_cache(
    tmp_path: Path, case: str
) -> None:
    store = MemoryStore()
    store.put(CONFIG_KEY, BAD_CONFIGS[case])
    cache = tmp_path / "state" / "cache"
    cache.mkdir(parents=True)
    before = fingerprint(tmp_path)
    with pytest.raises(IntegrityError) as refused:
        Repository.open(store, cache)
    assert_one_line_naming(refused.value, f"object {CONFIG_KEY} in {store.describe()}")
    assert fingerprint(tmp_path) == before


# ---- listed keys that are not of the format --------------------------------------------------

HOSTILE_KEYS = [
    "snapshots/../../x",
    "snapshots/" + "A" * 64,
    f"snapshots/{'a' * 64}\n",
    "snapshots/",
    "data/zz/notahexid",
    f"data/zz/{'a' * 64}",  # the shard is not the id's first two characters
    f"data/{'a' * 64}",
    "index/UPPERCASEHEX" + "F" * 50,
    "index/../../../etc/passwd",
    "pins/not-an-id",
]


def test_listed_keys_that_are_not_ids_are_skipped_with_a_warning(
    tmp_path: Path, store: MemoryStore, create: Create, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot_id, _ = create(make_tree(tmp_path / "src"))
    for key in HOSTILE_KEYS:
        store.put(key, zstd_msgpack(manifest_of([])))
    cache = tmp_path / "state" / "cache"
    around = tmp_path / "state"
    cache.mkdir(parents=True)
    before = fingerprint(around, skip=cache)
    repository = Repository.open(store, cache)
    with caplog.at_level(logging.WARNING):
        catalog = repository.catalog()
        repository.load_index()
        stored = repository.stored_packs()
        pinned = repository.pinned_ids()
        report = verify(repository, read_data=True, threads=2, progress=Progress("v"))
        restore_target = tmp_path / "dst"
        info = repository.find("latest")
        Restorer(repository, info.manifest, restore_target, 2).run(Progress("r"))
    assert [i.id for i in catalog.readable] == [snapshot_id] and not catalog.unreadable
    assert not repository.unreadable_indexes and report.ok and not pinned
    assert all(len(pack_id) == 64 for pack_id in stored)
    for key in HOSTILE_KEYS:
        assert repr(key) in caplog.text
    assert fingerprint(around, skip=cache) == before
    cached = [p.relative_to(cache / repository.config.id) for p in cache.rglob("*") if p.is_file()]
    assert cached and all(str(p).split("/", 1)[0] in ("index", "snapshots") for p in cached)
    assert all(len(p.name) == 64 for p in cached)
    for key in HOSTILE_KEYS:  # still there, untouched: nobody built a key from them
        assert store.get(key)


def test_the_chunk_cache_takes_only_32_byte_ids(tmp_path: Path) -> None:
    cache = ChunkCache(tmp_path / "chunks", 1024 * 1024)
    with pytest.raises(ValueError, match="32 bytes"):
        cache.has(b"../../etc/passwd"[:31])


# ---- isolation of damage -------------------------------------------------------------------


def snap(s: operations.Settings) -> str:
    snapshot_id, _ = operations.create(s, Progress("c"), tags=[], parent=None, keep=False)
    return snapshot_id


def list_output(s: operations.Settings, *flags: str) -> str:
    """`snapshot list` run through the CLI's own parser and handler (in process)."""
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["snapshot", "--repository", s.repository, "list", *flags])
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert cli.run(args, s.config) == 0
    return buffer.getvalue()


def test_one_unreadable_manifest_among_three_blocks_nothing_but_prune(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_tree(tmp_path / "src")
    s = settings(tmp_path, source)
    first = snap(s)
    (source / "second.txt").write_text("two\n")
    second = snap(s)
    at_second = describe(source)
    (source / "third.txt").write_text("three\n")
    third = snap(s)
    manifest_file = tmp_path / "repo" / "snapshots" / third
    manifest_file.unlink()
    manifest_file.write_bytes(b"\x28\xb5\x2f\xfd planted garbage")
    shutil.rmtree(tmp_path / "state" / "cache")  # (the cached copy still checks out: read here)

    listed = operations.catalog(s)
    assert [i.id for i in listed.readable] == [first, second]
    assert [(u.id, "hash" in u.reason) for u in listed.unreadable] == [(third, True)]
    rows = json.loads(list_output(s, "--json"))
    assert [row["id"] for row in rows] == [first, second, third]
    assert rows[2]["unreadable"] is True and rows[2]["reason"]
    table = list_output(s).splitlines()
    assert len(table) == 4 and table[3].startswith(f"{third[:12]}  UNREADABLE")

    assert operations.restore(s, "latest", tmp_path / "latest", Progress("r")) == second
    assert describe(tmp_path / "latest") == at_second
    operations.restore(s, first[:12], tmp_path / "first", Progress("r"))
    with pytest.raises(IntegrityError) as refused:
        operations.restore(s, third[:12], tmp_path / "third", Progress("r"))
    assert_one_line_naming(refused.value, snapshot_key(third))

    report = operations.check(s, read_data=False, progress=Progress("v"))
    assert [p for p in report.problems if snapshot_key(third) in p and "unreadable" in p]

    repository_files = fingerprint(tmp_path / "repo", skip=tmp_path / "repo" / "locks")
    with pytest.raises(IntegrityError) as refused:
        operations.prune_repository(s, dry_run=False, wait_s=0)
    assert_one_line_naming(refused.value, third[:12])
    assert "forget" in str(refused.value)
    assert fingerprint(tmp_path / "repo", skip=tmp_path / "repo" / "locks") == repository_files

    fourth, manifest = operations.create(s, Progress("c"), tags=[], parent=None, keep=False)
    assert manifest.parent == second  # the newest readable one

    with caplog.at_level(logging.WARNING):
        forgotten = operations.forget(s, [], RetentionPolicy(keep_last=1), dry_run=False)
    assert third not in forgotten and first in forgotten and second in forgotten
    assert f"kept unreadable snapshot {third[:12]}" in caplog.text
    assert operations.forget(s, [third[:12]], RetentionPolicy(), dry_run=False) == [third]
    operations.prune_repository(s, dry_run=False, wait_s=0)  # nothing unreadable is left
    assert operations.check(s, read_data=True, progress=Progress("v")).ok
    assert operations.restore(s, "latest", tmp_path / "fourth", Progress("r")) == fourth
    assert describe(tmp_path / "fourth") == describe(source)


def test_an_unreadable_index_object_never_costs_data(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=12 * MiB)
    snapshot_id, _ = create(source, compression="none")
    victim = max(store.list(INDEX_PREFIX), key=lambda info: info.size).key
    store.put(victim, b"garbage")  # its packs are now in no readable index

    with pytest.raises(IntegrityError) as refused:
        prune(Repository.open(store), dry_run=True, threads=2, pack_size_bytes=MiB)
    assert_one_line_naming(refused.value, victim)
    early = Repository.open(store)
    with pytest.raises(IntegrityError, match="in no index"):  # restore needs the index...
        Restorer(early, early.manifest(snapshot_id), tmp_path / "early", 2).run(Progress("r"))

    create(source)  # ...which the next create rebuilds from the packs' own tables
    repository = Repository.open(store)
    Restorer(repository, repository.manifest(snapshot_id), tmp_path / "dst", 2).run(Progress("r"))
    assert describe(tmp_path / "dst") == describe(source)
    assert not repository.unreadable_indexes  # the same records, the same object: healed

    planted = plant(store, INDEX_PREFIX, b"not an index")
    report = prune(Repository.open(store), dry_run=False, threads=2, pack_size_bytes=MiB)
    assert report.index_objects_replaced >= 1 and report.packs_deleted == 0
    assert not store_has(store, index_key(planted))  # superseded: every pack is indexed
    assert verify(Repository.open(store), read_data=True, threads=2, progress=Progress("v")).ok
    repository = Repository.open(store)
    Restorer(repository, repository.manifest(snapshot_id), tmp_path / "again", 2).run(Progress("r"))
    assert describe(tmp_path / "again") == describe(source)


def test_prune_refuses_when_an_unreadable_index_hides_a_pack_it_cannot_re_read(
    tmp_path: Path, store: MemoryStore, create: Create
) -> None:
    create(make_tree(tmp_path / "src", big_bytes=12 * MiB), compression="none")
    victim = max(store.list(INDEX_PREFIX), key=lambda info: info.size).key
    named = list(msgspec.msgpack.decode(zstandard.decompress(store.get(victim))))
    store.put(victim, b"garbage")
    damaged = pack_key(named[0])
    store.put(damaged, store.get(damaged)[:-8] + b"\0" * 8)  # its table cannot be found
    before = {info.key: info.size for info in store.list()}

    with pytest.raises(IntegrityError) as refused:
        prune(Repository.open(store), dry_run=False, threads=2, pack_size_bytes=MiB)
    assert_one_line_naming(refused.value, victim)
    assert "verify" in str(refused.value)
    after = {info.key: info.size for info in store.list() if not info.key.startswith("index/")}
    assert after == {k: v for k, v in before.items() if not k.startswith("index/")}


def store_has(store: MemoryStore, key: str) -> bool:
    return any(info.key == key for info in store.list(key))


def test_pinned_unreadable_snapshot_can_be_unpinned_and_forgotten(tmp_path: Path) -> None:
    s = settings(tmp_path, make_tree(tmp_path / "src"))
    snapshot_id, _ = operations.create(s, Progress("c"), tags=[], parent=None, keep=True)
    manifest_file = tmp_path / "repo" / "snapshots" / snapshot_id
    manifest_file.unlink()
    manifest_file.write_bytes(b"damaged")
    shutil.rmtree(tmp_path / "state" / "cache")
    with pytest.raises(SnapshotError, match="pinned"):
        operations.forget(s, [snapshot_id[:10]], RetentionPolicy(), dry_run=False)
    operations.set_pin(s, snapshot_id[:10], pinned=False)
    assert operations.forget(s, [snapshot_id[:10]], RetentionPolicy(), dry_run=False) == [
        snapshot_id
    ]
    assert not operations.catalog(s).unreadable
    assert not list((tmp_path / "repo").glob(f"{PIN_PREFIX}*"))
