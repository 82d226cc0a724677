"""forget, retention, prune and locks: nothing a remaining snapshot needs is ever deleted."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.trees import describe, make_tree
from torpor.agent.snapshot import locks, operations
from torpor.agent.snapshot.errors import RepositoryBusy, SnapshotError
from torpor.agent.snapshot.format import DATA_PREFIX, Manifest, SnapshotStats
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import SnapshotInfo
from torpor.agent.snapshot.retention import RetentionPolicy, to_keep
from torpor.agent.snapshot.store.memory import MemoryStore

from .conftest import settings

pytestmark = pytest.mark.unit


def snap(s: operations.Settings, keep: bool = False) -> str:
    snapshot_id, _ = operations.create(s, Progress("c"), tags=[], parent=None, keep=keep)
    return snapshot_id


def test_prune_frees_forgotten_data_and_keeps_the_rest_restorable(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", big_bytes=8 * 1024 * 1024)
    s = settings(tmp_path, source)
    old = snap(s)
    (source / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    new = snap(s)
    before = sum(p.stat().st_size for p in (tmp_path / "repo" / "data").rglob("*"))
    assert operations.forget(s, [old], RetentionPolicy(), dry_run=False) == [old]
    report = operations.prune_repository(s, dry_run=False, wait_s=0)
    after = sum(p.stat().st_size for p in (tmp_path / "repo" / "data").rglob("*"))
    assert report.packs_deleted >= 1 and after < before - 7 * 1024 * 1024
    operations.restore(s, new, tmp_path / "dst", Progress("r"))
    assert describe(tmp_path / "dst") == describe(source)
    assert operations.check(s, read_data=True, progress=Progress("v")).ok


def test_prune_dry_run_deletes_nothing(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    s = settings(tmp_path, source)
    operations.forget(s, [snap(s)], RetentionPolicy(), dry_run=False)
    report = operations.prune_repository(s, dry_run=True, wait_s=0)
    assert report.packs_deleted >= 1
    assert list((tmp_path / "repo" / "data").rglob("*"))


def test_a_pinned_snapshot_cannot_be_forgotten(tmp_path: Path) -> None:
    s = settings(tmp_path, make_tree(tmp_path / "src"))
    pinned = snap(s, keep=True)
    with pytest.raises(SnapshotError, match="pinned"):
        operations.forget(s, [pinned], RetentionPolicy(), dry_run=False)
    assert operations.forget(s, [], RetentionPolicy(keep_last=0, keep_daily=1), dry_run=False) == []
    operations.set_pin(s, pinned, pinned=False)
    assert operations.forget(s, [pinned[:8]], RetentionPolicy(), dry_run=False) == [pinned]


def info(snapshot_id: str, when: datetime, host: str = "h", pinned: bool = False) -> SnapshotInfo:
    manifest = Manifest(1, when.isoformat(), host, "/w", [], None, SnapshotStats(), [])
    return SnapshotInfo(snapshot_id, manifest, pinned)


def test_retention_keeps_last_daily_weekly_per_host_and_pins() -> None:
    start = datetime(2026, 11, 1, 12)
    snaps = [info(f"s{i:02d}", start + timedelta(hours=8 * i)) for i in range(30)]
    snaps.append(info("other-host", start, host="g"))
    snaps.append(info("pinned", start - timedelta(days=100), pinned=True))
    kept = to_keep(sorted(snaps, key=lambda i: i.manifest.time), RetentionPolicy(keep_last=2))
    assert kept == {"s29", "s28", "other-host", "pinned"}
    daily = to_keep(snaps, RetentionPolicy(keep_daily=3))
    assert daily - {"other-host", "pinned"} == {"s29", "s28", "s25"}  # newest of each day
    weekly = to_keep(snaps, RetentionPolicy(keep_weekly=2))
    assert "s29" in weekly and len(weekly - {"other-host", "pinned"}) == 2


def test_prune_refuses_while_a_create_holds_the_repository(tmp_path: Path) -> None:
    store = MemoryStore()
    with locks.hold(store, "shared", "snapshot create"):
        with (
            pytest.raises(RepositoryBusy, match="in use by snapshot create"),
            locks.hold(store, "exclusive", "snapshot prune"),
        ):
            pass
        with locks.hold(store, "shared", "another create"):
            pass  # creates share
    with (
        locks.hold(store, "exclusive", "snapshot prune"),
        pytest.raises(RepositoryBusy, match="in use by snapshot prune"),
        locks.hold(store, "shared", "snapshot create"),
    ):
        pass


def test_a_waiting_prune_proceeds_once_the_create_ends(tmp_path: Path) -> None:
    store = MemoryStore()
    released = threading.Event()
    holding = threading.Event()

    def create() -> None:
        with locks.hold(store, "shared", "snapshot create"):
            holding.set()
            released.wait(5)

    worker = threading.Thread(target=create)
    worker.start()
    assert holding.wait(5)  # else the prune may lock first and the create gives up
    threading.Timer(0.5, released.set).start()
    with locks.hold(store, "exclusive", "snapshot prune", wait_s=10):
        assert released.is_set()
    worker.join()


def test_a_lock_of_a_dead_process_on_this_host_is_stale(tmp_path: Path) -> None:
    store = MemoryStore()
    locks._write(store, "locks/dead", "shared", "snapshot create", pid=2**22 + 12345)
    with locks.hold(store, "exclusive", "snapshot prune"):
        pass


def test_prune_never_deletes_what_a_concurrent_create_uploads(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", big_bytes=8 * 1024 * 1024)
    s = settings(tmp_path, source)
    snap(s)
    errors: list[BaseException] = []

    def prune_loop() -> None:
        for _ in range(20):
            try:
                operations.prune_repository(s, dry_run=False, wait_s=0)
            except RepositoryBusy:
                pass
            except BaseException as error:  # surfaced below
                errors.append(error)

    pruner = threading.Thread(target=prune_loop)
    pruner.start()
    ids = []
    for i in range(3):
        (source / f"new{i}.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        ids.append(snap(s))
    pruner.join()
    assert not errors
    assert operations.check(s, read_data=True, progress=Progress("v")).ok
    operations.restore(s, ids[-1], tmp_path / "dst", Progress("r"))
    assert describe(tmp_path / "dst") == describe(source)
    assert list((tmp_path / "repo").glob(f"{DATA_PREFIX}*"))
