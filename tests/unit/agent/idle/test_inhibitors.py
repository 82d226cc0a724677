"""Inhibitor records (expiry, release) and the lock file a user script holds with flock."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from torpor.agent.idle.inhibitors import InhibitorStore, inhibitor_reading, lock_is_held
from torpor.agent.idle.verdict import Verdict

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


def test_records_expire_and_release(tmp_path: Path) -> None:
    store = InhibitorStore(tmp_path)
    short = store.add("quick check", 60, NOW, who="ana")
    long = store.add("long eval", 7200, NOW, who="bo")
    assert [each.id for each in store.active(NOW + 1)] == [short.id, long.id]
    assert [each.id for each in store.active(NOW + 61)] == [long.id]
    assert not (tmp_path / "inhibitors" / f"{short.id}.json").exists()  # pruned
    assert store.release(long.id)
    assert not store.release(long.id)
    assert not store.release("../credentials")
    assert store.active(NOW) == []


def test_a_lock_file_held_with_flock_by_another_process_is_busy(tmp_path: Path) -> None:
    lock = tmp_path / "inhibit.lock"
    assert not lock_is_held(lock)  # missing: not held
    lock.touch()
    assert not lock_is_held(lock)
    assert not lock_is_held(lock)  # our own probe let go at once
    # Its own session: the lock is shared with `sleep`, so the whole group must go.
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not lock_is_held(lock):
            assert time.monotonic() < deadline, "flock never took the lock"
            time.sleep(0.02)
        reading = inhibitor_reading(InhibitorStore(tmp_path), lock, NOW)
        assert reading.verdict is Verdict.BUSY
        assert f"lock {lock} held" in reading.detail
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 5
    while lock_is_held(lock):  # `sleep` exits a moment after its parent
        assert time.monotonic() < deadline, "the lock outlived its holders"
        time.sleep(0.02)


def test_an_unreadable_lock_file_is_unknown(tmp_path: Path) -> None:
    lock = tmp_path / "inhibit.lock"
    lock.mkdir()  # opening a directory for flock works; make reading the records fail instead
    records = tmp_path / "inhibitors"
    records.mkdir()
    (records / "inh-bad.json").write_text("{not json")
    reading = inhibitor_reading(InhibitorStore(tmp_path), lock, NOW)
    assert reading.verdict is Verdict.UNKNOWN
