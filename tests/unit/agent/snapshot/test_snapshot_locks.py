"""Stale locks are removed by the next operation that lists them; live ones stay and conflict."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from torpor.agent.snapshot import holders, locks
from torpor.agent.snapshot.errors import RepositoryBusy
from torpor.agent.snapshot.store.base import ObjectInfo
from torpor.agent.snapshot.store.memory import MemoryStore
from torpor.common.timestamps import utc_now

pytestmark = pytest.mark.unit
needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="process start times come from /proc"
)


def record(
    *,
    kind: str = "shared",
    host: str | None = None,
    pid: int | None = None,
    started: int | None = None,
    age_s: float = 0.0,
    boot_id: str | None = None,
    pid_namespace: str | None = None,
) -> locks.LockRecord:
    """A lock as this process would write it, with the fields a test changes."""
    here = holders.here()
    holder = os.getpid() if pid is None else pid
    when = (utc_now() - timedelta(seconds=age_s)).isoformat()
    return locks.LockRecord(
        kind,
        here.host if host is None else host,
        holder,
        "snapshot create",
        when,
        when,
        started=holders.start_ticks(holder) if started is None else started,
        boot_id=here.boot_id if boot_id is None else boot_id,
        pid_namespace=here.pid_namespace if pid_namespace is None else pid_namespace,
    )


def put(store: MemoryStore, name: str, lock: locks.LockRecord) -> str:
    key = f"locks/{name}"
    store.put(key, msgspec.json.encode(lock))
    return key


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def lock_keys(store: MemoryStore) -> set[str]:
    return {info.key for info in store.list("locks/")}


def test_a_lock_of_a_dead_process_on_this_host_is_removed_by_the_next_hold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    key = put(store, "dead", record(kind="exclusive", pid=dead_pid(), started=12345))
    with caplog.at_level(logging.INFO), locks.hold(store, "shared", "snapshot create"):
        assert key not in lock_keys(store)
    removed = [r.getMessage() for r in caplog.records if "removed stale lock" in r.getMessage()]
    assert len(removed) == 1 and "no longer runs" in removed[0] and "snapshot create" in removed[0]
    assert lock_keys(store) == set()


def test_an_old_record_without_start_time_of_a_dead_pid_is_removed() -> None:
    store = MemoryStore()
    old = record(pid=dead_pid(), started=0, boot_id="", pid_namespace="")
    encoded = msgspec.json.encode(old).replace(b',"started":0,"boot_id":"","pid_namespace":""', b"")
    assert b"started" not in encoded  # as an agent before this field wrote it
    store.put("locks/old", encoded)
    with locks.hold(store, "exclusive", "snapshot prune"):
        assert "locks/old" not in lock_keys(store)


def test_a_lock_not_refreshed_within_the_ttl_is_removed() -> None:
    store = MemoryStore()
    key = put(
        store, "old", record(kind="exclusive", host="elsewhere", age_s=locks.STALE_AFTER_S + 60)
    )
    with locks.hold(store, "shared", "snapshot create"):
        assert key not in lock_keys(store)


def test_a_live_lock_of_another_host_is_kept_and_conflicts() -> None:
    store = MemoryStore()
    key = put(store, "theirs", record(kind="exclusive", host="elsewhere", pid=dead_pid()))
    with (
        pytest.raises(RepositoryBusy, match="in use by snapshot create on elsewhere"),
        locks.hold(store, "shared", "snapshot create"),
    ):
        pass
    assert lock_keys(store) == {key}


def test_a_live_lock_of_this_process_conflicts() -> None:
    store = MemoryStore()
    key = put(store, "mine", record(kind="exclusive"))
    with pytest.raises(RepositoryBusy), locks.hold(store, "shared", "snapshot create"):
        pass
    assert lock_keys(store) == {key}


@needs_proc
def test_a_reused_pid_is_not_the_holder() -> None:
    store = MemoryStore()
    alive = os.getpid()
    key = put(
        store, "reused", record(kind="exclusive", pid=alive, started=holders.start_ticks(alive) + 1)
    )
    with locks.hold(store, "shared", "snapshot create"):
        assert key not in lock_keys(store)


@pytest.mark.parametrize(
    "fields",
    [{"boot_id": "another-boot"}, {"pid_namespace": "pid:[1]"}],
    ids=["another boot", "another pid namespace"],
)
def test_a_dead_pid_of_another_boot_or_container_is_left_to_the_ttl(fields: dict[str, str]) -> None:
    store = MemoryStore()
    key = put(store, "unsure", record(kind="exclusive", pid=dead_pid(), **fields))
    with pytest.raises(RepositoryBusy), locks.hold(store, "shared", "snapshot create"):
        pass
    assert lock_keys(store) == {key}


def test_unlock_removes_stale_locks_only() -> None:
    store = MemoryStore()
    live = put(store, "live", record(host="elsewhere"))
    put(store, "dead", record(pid=dead_pid()))
    put(store, "old", record(host="elsewhere", age_s=locks.STALE_AFTER_S * 2))
    report = locks.remove_stale(store)
    assert report.kept == 1 and lock_keys(store) == {live}
    assert sorted(r.key for r in report.removed) == ["locks/dead", "locks/old"]
    assert all(
        r.record is not None and r.record.operation == "snapshot create" for r in report.removed
    )


def test_unlock_all_removes_every_lock() -> None:
    store = MemoryStore()
    put(store, "live", record(host="elsewhere"))
    put(store, "dead", record(pid=dead_pid()))
    store.put("locks/junk", b"junk")
    report = locks.remove_all(store)
    assert report.kept == 0 and lock_keys(store) == set()
    reasons = {r.key: r.reason for r in report.removed}
    assert reasons["locks/live"].startswith("live") and reasons["locks/junk"] == "not a lock record"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"kind": "shared"}',
        msgspec.json.encode(record()).replace(b"+00:00", b""),  # a naive time
        msgspec.json.encode(record()).replace(b'"refreshed":"', b'"refreshed":"soon'),
    ],
    ids=["not json", "missing fields", "naive time", "not a time"],
)
def test_an_object_that_is_no_lock_record_is_removed_with_a_warning(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    store.put("locks/garbage", data)
    with caplog.at_level(logging.WARNING), locks.hold(store, "exclusive", "snapshot prune"):
        assert "locks/garbage" not in lock_keys(store)
    assert any("not a lock record" in r.getMessage() for r in caplog.records)


class CountingStore(MemoryStore):
    """Records the reads, to show an oversized object is never fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int | None]] = []

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        self.reads.append((key, length))
        return super().get(key, start, length)


def test_an_oversized_lock_object_is_removed_unread() -> None:
    store = CountingStore()
    store.put("locks/huge", b"{" * (locks.MAX_LOCK_BYTES + 1))
    put(store, "live", record(host="elsewhere"))
    report = locks.remove_stale(store)
    assert [r.key for r in report.removed] == ["locks/huge"] and report.kept == 1
    assert [key for key, _ in store.reads] == ["locks/live"]
    assert all(length == locks.MAX_LOCK_BYTES + 1 for _, length in store.reads)


class GrowingStore(MemoryStore):
    """Lists a size smaller than what a read then finds (the object was replaced)."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter([ObjectInfo(info.key, 10) for info in super().list(prefix)])


def test_a_lock_object_that_grows_past_the_bound_is_not_decoded() -> None:
    store = GrowingStore()
    store.put("locks/grown", b" " * (2 * locks.MAX_LOCK_BYTES) + msgspec.json.encode(record()))
    assert [r.key for r in locks.remove_stale(store).removed] == ["locks/grown"]


@needs_proc
def test_a_killed_holder_not_yet_reaped_holds_nothing() -> None:
    store = MemoryStore()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = holders.start_ticks(child.pid)
    try:
        child.kill()
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        key = put(store, "zombie", record(kind="exclusive", pid=child.pid, started=started))
        with locks.hold(store, "shared", "snapshot create"):
            assert key not in lock_keys(store)
    finally:
        child.kill()
        child.wait()
