"""One behaviour for every ObjectStore: memory (the reference), a local directory, S3 (moto).

The snapshot engine is written against the interface, not a backend, so each backend
must pass every test here unchanged. A backend-specific quirk belongs in that backend's
own test file, never as a branch in this one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.s3server import S3Bucket
from torpor.agent.snapshot.store.base import ObjectExists, ObjectNotFound, ObjectStore
from torpor.agent.snapshot.store.local import LocalStore
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.agent.snapshot.store.s3 import MIB, S3Store

MULTIPART_THRESHOLD_BYTES = 8 * MIB  # so the 20 MiB object takes the multipart path
LIST_PAGE_SIZE = 100  # S3 pages hold 1000 keys; 100 crosses page boundaries with fewer puts


def _memory(_: pytest.FixtureRequest) -> ObjectStore:
    return MemoryStore("conformance")


def _local(request: pytest.FixtureRequest) -> ObjectStore:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return LocalStore(tmp_path / "repo")


def _s3(request: pytest.FixtureRequest) -> ObjectStore:
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return S3Store(
        bucket.name,
        "repos/one",
        endpoint_url=bucket.endpoint_url,
        max_attempts=2,
        multipart_threshold_bytes=MULTIPART_THRESHOLD_BYTES,
        list_page_size=LIST_PAGE_SIZE,
    )


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], ObjectStore]] = {
    "memory": _memory,
    "local": _local,
    "s3": _s3,
}


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("local", marks=pytest.mark.integration),
        pytest.param("s3", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """An empty store of each kind in turn."""
    opened = BACKENDS[request.param](request)
    yield opened
    opened.close()


@pytest.mark.parametrize("size", [0, 1, 20 * MIB], ids=["empty", "one-byte", "20MiB"])
def test_put_then_get_returns_the_same_bytes(store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    store.put("data/ab/pack", data)
    assert store.get("data/ab/pack") == data
    assert store.size("data/ab/pack") == size


def test_put_accepts_a_memoryview(store: ObjectStore) -> None:
    data = bytearray(b"0123456789")
    store.put("view", memoryview(data)[2:6])
    assert store.get("view") == b"2345"


def test_ranged_get_returns_the_bytes_asked_for(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    store.put("pack", data)
    assert store.get("pack", 10, 20) == data[10:30]
    assert store.get("pack", 1000) == data[1000:]
    assert store.get("pack", 0, 1) == data[:1]
    assert store.get("pack", 5, 0) == b""


def test_ranged_get_past_the_end_returns_what_exists(store: ObjectStore) -> None:
    store.put("pack", b"0123456789")
    assert store.get("pack", 8, 100) == b"89"
    assert store.get("pack", 10, 5) == b""
    assert store.get("pack", 50) == b""


def test_missing_key_raises_object_not_found_naming_it(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match="snapshots/nope"):
        store.get("snapshots/nope")
    with pytest.raises(ObjectNotFound, match="snapshots/nope"):
        store.get("snapshots/nope", 3, 4)
    with pytest.raises(ObjectNotFound, match="snapshots/nope"):
        store.size("snapshots/nope")


def test_list_returns_the_keys_under_a_prefix_with_sizes(store: ObjectStore) -> None:
    objects = {"data/aa/p1": b"1", "data/ab/p2": b"22", "index/i1": b"333", "config": b""}
    for key, data in objects.items():
        store.put(key, data)
    assert {(o.key, o.size) for o in store.list("data/")} == {("data/aa/p1", 1), ("data/ab/p2", 2)}
    assert {o.key for o in store.list("data/a")} == {"data/aa/p1", "data/ab/p2"}
    assert {o.key for o in store.list("data/aa")} == {"data/aa/p1"}
    assert {o.key for o in store.list("in")} == {"index/i1"}
    assert {o.key: o.size for o in store.list()} == {k: len(v) for k, v in objects.items()}
    assert list(store.list("locks/")) == []


def test_list_returns_every_key_past_one_page(store: ObjectStore) -> None:
    keys = {f"index/{n:05d}" for n in range(2 * LIST_PAGE_SIZE + 50)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))
    assert {o.key for o in store.list("index/")} == keys


def test_delete_removes_and_is_idempotent(store: ObjectStore) -> None:
    store.put("locks/l1", b"{}")
    store.delete("locks/l1")
    store.delete("locks/l1")
    store.delete("locks/never-existed")
    with pytest.raises(ObjectNotFound):
        store.get("locks/l1")
    assert list(store.list("locks/")) == []


def test_if_absent_creates_once_then_refuses(store: ObjectStore) -> None:
    store.put("snapshots/s1", b"first", if_absent=True)
    with pytest.raises(ObjectExists, match="snapshots/s1"):
        store.put("snapshots/s1", b"second", if_absent=True)
    assert store.get("snapshots/s1") == b"first"


def test_put_without_if_absent_replaces(store: ObjectStore) -> None:
    store.put("config", b"old content")
    store.put("config", b"new")
    assert store.get("config") == b"new"
    assert store.size("config") == 3


def test_concurrent_puts_from_8_threads_all_land(store: ObjectStore) -> None:
    def write(thread: int) -> None:
        for n in range(10):
            store.put(f"data/{thread:02d}/{n}", f"{thread}:{n}".encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    for thread in range(8):
        for n in range(10):
            assert store.get(f"data/{thread:02d}/{n}") == f"{thread}:{n}".encode()


def test_concurrent_if_absent_lets_exactly_one_writer_win(store: ObjectStore) -> None:
    barrier = threading.Barrier(8)

    def race(thread: int) -> bool:
        barrier.wait()
        try:
            store.put("snapshots/race", str(thread).encode(), if_absent=True)
        except ObjectExists:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = [t for t, ok in enumerate(pool.map(race, range(8))) if ok]
    assert len(won) == 1
    assert store.get("snapshots/race") == str(won[0]).encode()


def test_keys_with_slashes_are_kept_verbatim(store: ObjectStore) -> None:
    key = "data/0f/deep/er/still/pack-0f1e"
    store.put(key, b"x")
    assert [o.key for o in store.list("data/0f/")] == [key]
    assert store.get(key) == b"x"


def test_describe_names_the_store(store: ObjectStore) -> None:
    assert store.describe()
    assert "\n" not in store.describe()
