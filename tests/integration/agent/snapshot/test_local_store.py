"""LocalStore's own promises: atomic writes leave no temp files, and OS errors say what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from torpor.agent.snapshot.store.base import (
    ObjectExists,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreFull,
)
from torpor.agent.snapshot.store.local import TEMP_PREFIX, LocalStore

pytestmark = pytest.mark.integration


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def _is_root() -> bool:
    return os.geteuid() == 0


def _needs_root(what: str) -> None:
    """Skips without root, except under CI=true, where a test that cannot run must fail."""
    if _is_root():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} needs root (CI=true: this test must run)")
    pytest.skip(f"{what} needs root")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, so a write can really hit ENOSPC."""
    _needs_root("mounting a tmpfs")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], check=True)
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.fixture
def locked_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process may not create files in (chattr +i as root, chmod otherwise)."""
    directory = tmp_path / "repo" / "data"
    directory.mkdir(parents=True)
    if _is_root():
        if shutil.which("chattr") is None:
            pytest.fail("chattr is needed to make a directory unwritable for root")
        subprocess.run(["chattr", "+i", str(directory)], check=True)
        yield directory
        subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)


def test_put_leaves_no_temp_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/ab/pack", b"x" * 1000)
    store.put("data/ab/pack", b"y")
    store.put("snapshots/s1", b"m", if_absent=True)
    assert _temp_files(tmp_path) == []
    assert (tmp_path / "data" / "ab" / "pack").read_bytes() == b"y"


def test_failed_conditional_put_leaves_no_temp_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("snapshots/s1", b"first", if_absent=True)
    with pytest.raises(ObjectExists):
        store.put("snapshots/s1", b"second", if_absent=True)
    assert _temp_files(tmp_path) == []


def test_list_skips_temp_files_of_an_interrupted_put(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/ab/pack", b"x")
    (tmp_path / "data" / "ab" / f"{TEMP_PREFIX}crashed").write_bytes(b"partial")
    assert [o.key for o in store.list()] == ["data/ab/pack"]


def test_full_disk_raises_store_full_and_cleans_up(tiny_disk: Path) -> None:
    store = LocalStore(tiny_disk / "repo")
    with pytest.raises(StoreFull) as raised:
        store.put("data/ab/pack", b"x" * (2 * 1024 * 1024))
    message = str(raised.value)
    assert "no space left on device" in message
    assert str(tiny_disk) in message
    assert "free space or move the repository" in message
    assert _temp_files(tiny_disk) == []


def test_unwritable_directory_raises_access_denied_naming_the_path(locked_dir: Path) -> None:
    store = LocalStore(locked_dir.parent)
    with pytest.raises(StoreAccessDenied) as raised:
        store.put("data/pack", b"x")
    assert str(locked_dir) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_file_where_a_directory_should_be_is_a_store_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data", b"a file, not a directory")
    with pytest.raises(StoreError) as raised:
        store.put("data/ab/pack", b"x")
    assert not isinstance(raised.value, ObjectNotFound)
    with pytest.raises(ObjectNotFound):
        store.get("data/ab/pack")


def test_a_directory_is_not_an_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data/ab/pack", b"x")
    with pytest.raises(ObjectNotFound):
        store.get("data/ab")
    with pytest.raises(ObjectNotFound):
        store.size("data/ab")


@pytest.mark.parametrize("key", ["", "../escape", "a//b", "/abs", "a/./b", f"a/{TEMP_PREFIX}x"])
def test_keys_that_could_escape_or_collide_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match="invalid object key"):
        LocalStore(tmp_path / "repo").put(key, b"x")


def test_list_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert list(LocalStore(tmp_path / "not-yet").list()) == []


def test_list_under_a_key_that_is_a_file_is_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("data", b"x")
    assert list(store.list("data/")) == []
