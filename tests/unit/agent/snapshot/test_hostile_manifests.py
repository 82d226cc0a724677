"""A manifest written by someone hostile can never make a restore touch anything outside
its target: paths, links, kinds and modes are checked before the first write, and the
writes themselves never follow a symlink.

Each test writes a crafted manifest into a real repository (the attacker can write the
bucket), restores it, and compares a fingerprint of the whole directory around the target
(every path's type, mode, owner, size, mtime and content) before and after.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.tree_hash import fingerprint
from torpor.agent.snapshot.confined_tree import ConfinedTree, Ownership
from torpor.agent.snapshot.dir_handles import DirectoryHandles
from torpor.agent.snapshot.format import Entry, Manifest, SnapshotStats
from torpor.agent.snapshot.paths import UnsafeEntry
from torpor.agent.snapshot.progress import Progress
from torpor.agent.snapshot.repository import Repository
from torpor.agent.snapshot.restore import Restorer
from torpor.agent.snapshot.store.memory import MemoryStore

from .conftest import Create

pytestmark = pytest.mark.unit

MTIME_NS = 1_700_000_000_000_000_000


class World:
    """tmp_path holding `outside/` (what an attacker wants to reach) and `target/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outside = root / "outside"
        self.target = root / "target"
        (self.outside / "etc").mkdir(parents=True)
        (self.outside / "etc" / "passwd").write_text("root:x:0:0\n")
        (self.outside / "victim").write_text("precious\n")
        self.target.mkdir()
        self.source = root / "source"
        self.source.mkdir()
        (self.source / "payload").write_bytes(b"attacker's bytes\n" * 100)

    def before(self) -> dict[str, tuple[object, ...]]:
        return fingerprint(self.root, skip=self.target)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


Forge = Callable[[list[Entry]], str]


@pytest.fixture
def forge(store: MemoryStore, create: Create, world: World) -> Forge:
    """Writes a manifest with these entries (a file entry named "payload" gets the real
    chunks of a snapshotted file) and returns its snapshot id."""
    _, real = create(world.source)
    payload = next(e for e in real.entries if e.path == "payload")

    def write(entries: list[Entry]) -> str:
        for entry in entries:
            if entry.kind == "file" and not entry.hardlink and not entry.extents:
                entry.extents, entry.size = payload.extents, payload.size
        manifest = Manifest(1, real.time, "attacker", "/w", [], None, SnapshotStats(), entries)
        return Repository.open(store).write_manifest(manifest)

    return write


def restore(store: MemoryStore, snapshot_id: str, target: Path, *, trusted: bool = False) -> None:
    repository = Repository.open(store)
    manifest = repository.manifest(snapshot_id)
    restorer = Restorer(
        repository, manifest, target, 2, trust_ownership=trusted, snapshot_id=snapshot_id
    )
    restorer.run(Progress("restore"))


def file(path: str, mode: int = 0o644, **fields: object) -> Entry:
    return Entry(path, "file", mode, 0, 0, MTIME_NS, **fields)  # type: ignore[arg-type]


def directory(path: str, mode: int = 0o755) -> Entry:
    return Entry(path, "dir", mode, 0, 0, MTIME_NS)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, "symlink", 0o777, 0, 0, MTIME_NS, target=target)


def root() -> Entry:
    return directory(".")


REFUSED = {
    "parent escape": [root(), file("../outside/victim")],
    "escape inside": [root(), directory("a"), file("a/../../outside/victim")],
    "absolute path": [root(), file("/etc/torpor-hostile")],
    "NUL": [root(), file("ok\x00/../../outside/victim")],
    "empty component": [root(), directory("a"), file("a//b")],
    "dot component": [root(), file("./x")],
    "beneath a symlink": [root(), symlink("s", "../outside"), file("s/victim")],
    "dir beneath a symlink": [root(), symlink("s", "/"), directory("s/etc")],
    "beneath a file": [root(), file("f"), file("f/g")],
    "parent listed later": [root(), file("a/x"), directory("a")],
    "parent missing": [root(), file("nowhere/x")],
    "duplicate": [root(), directory("s"), symlink("s", "../outside")],
    "hard link out": [root(), file("h", hardlink="../outside/victim")],
    "hard link absolute": [root(), file("h", hardlink="/etc/shadow")],
    "hard link to a symlink": [root(), symlink("s", "../outside/victim"), file("h", hardlink="s")],
    "hard link to a later file": [root(), file("h", hardlink="payload"), file("payload")],
    "fifo": [root(), Entry("p", "fifo", 0o644, 0, 0, MTIME_NS)],
    "device": [root(), Entry("sda", "chardev", 0o660, 0, 6, MTIME_NS)],
    "long name": [root(), file("x" * 256)],
    "long path": [root(), *[directory("/".join(["d" * 200] * n)) for n in range(1, 22)]],
    "root not first": [directory("a"), root()],
    "root is a file": [file(".")],
    "mode out of range": [root(), file("m", mode=0o177777)],
    "negative owner": [root(), Entry("o", "file", 0o644, -1, 0, MTIME_NS)],
    "symlink with data": [root(), Entry("s", "symlink", 0o777, 0, 0, MTIME_NS, size=1)],
    "empty symlink": [root(), symlink("s", "")],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_entry_fails_the_restore_before_anything_is_written(
    store: MemoryStore, world: World, forge: Forge, case: str
) -> None:
    snapshot_id = forge(REFUSED[case])
    before = world.before()
    with pytest.raises(UnsafeEntry) as refused:
        restore(store, snapshot_id, world.target)
    message = str(refused.value)
    assert "\n" not in message and snapshot_id[:12] in message and "nothing was restored" in message
    assert world.before() == before
    assert list(world.target.iterdir()) == []


def test_the_refusal_names_the_entry(store: MemoryStore, world: World, forge: Forge) -> None:
    snapshot_id = forge([root(), directory("a"), file("a/../../outside/victim")])
    with pytest.raises(UnsafeEntry, match=r"'a/\.\./\.\./outside/victim' has a '\.\.' component"):
        restore(store, snapshot_id, world.target)


def test_a_symlink_in_the_snapshot_is_created_but_never_followed(
    store: MemoryStore, world: World, forge: Forge
) -> None:
    snapshot_id = forge([root(), file("payload"), symlink("escape", "../outside/victim")])
    before = world.before()
    restore(store, snapshot_id, world.target)
    assert world.before() == before
    assert str((world.target / "escape").readlink()) == "../outside/victim"
    assert (world.target / "payload").read_bytes() == b"attacker's bytes\n" * 100


def test_setuid_and_foreign_owners_need_a_trusted_repository(
    store: MemoryStore, world: World, forge: Forge
) -> None:
    suid = Entry("su", "file", 0o6755, 12345, 23456, MTIME_NS)
    snapshot_id = forge([root(), suid, Entry("d", "dir", 0o2775, 12345, 23456, MTIME_NS)])
    restore(store, snapshot_id, world.target)
    for name in ("su", "d"):
        st = (world.target / name).lstat()
        assert st.st_mode & (stat.S_ISUID | stat.S_ISGID) == 0
        target = world.target.stat()
        assert (st.st_uid, st.st_gid) == (target.st_uid, target.st_gid)
    assert stat.S_IMODE((world.target / "su").stat().st_mode) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="setting foreign owners needs root")
def test_a_trusted_repository_gets_its_owners_and_setuid_bits(
    store: MemoryStore, world: World, forge: Forge
) -> None:
    snapshot_id = forge([root(), Entry("su", "file", 0o6755, 12345, 23456, MTIME_NS)])
    restore(store, snapshot_id, world.target, trusted=True)
    st = (world.target / "su").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o6755, 12345, 23456)


def test_symlinks_left_in_an_old_copy_are_replaced_not_followed(
    store: MemoryStore, world: World, forge: Forge
) -> None:
    (world.target / "a").symlink_to(world.outside)  # where the snapshot has a directory
    (world.target / "victim").symlink_to(world.outside / "victim")  # where it has a file
    (world.target / "old").mkdir()  # where it has a file: a tree holding a way out
    (world.target / "old" / "etc").symlink_to(world.outside / "etc")
    snapshot_id = forge(
        [root(), directory("a"), file("a/passwd"), file("victim"), file("old"), file("payload")]
    )
    before = world.before()
    restore(store, snapshot_id, world.target)
    assert world.before() == before
    assert (world.target / "a").is_dir() and not (world.target / "a").is_symlink()
    for name in ("a/passwd", "victim", "old"):
        path = world.target / name
        assert not path.is_symlink() and path.read_bytes() == b"attacker's bytes\n" * 100


def test_hard_links_inside_the_snapshot_still_work(
    store: MemoryStore, world: World, forge: Forge
) -> None:
    snapshot_id = forge([root(), directory("a"), file("payload"), file("a/h", hardlink="payload")])
    restore(store, snapshot_id, world.target)
    one, two = (world.target / "payload").stat(), (world.target / "a" / "h").stat()
    assert (one.st_ino, one.st_nlink) == (two.st_ino, 2)


def test_a_directory_swapped_for_a_symlink_mid_restore_is_not_followed(world: World) -> None:
    """What a local user racing the restore could do: the open directory fd keeps writes in
    the directory that was created, and a fresh lookup refuses the symlink."""
    tree = ConfinedTree(world.target, Ownership.for_target(world.target, trusted=False))
    tree.open()
    try:
        tree.make_dir("a")
        (world.target / "a").rename(world.target / "moved")
        (world.target / "a").symlink_to(world.outside)
        before = world.before()
        fd, temp = tree.create_temp("a/victim", 0, 0)
        tree.finish_file("a/victim", fd, temp, file("a/victim"))
        tree.make_dir("a/b")
        assert world.before() == before
        assert (world.target / "moved" / "victim").is_file()
        assert (world.target / "moved" / "b").is_dir()
    finally:
        tree.close()
    fresh = ConfinedTree(world.target, Ownership.for_target(world.target, trusted=False))
    fresh.open()
    try:
        with pytest.raises(OSError):
            fresh.make_dir("a/c")  # a fresh lookup of "a" goes through O_NOFOLLOW: refused
    finally:
        fresh.close()
    assert world.before() == before


def test_directory_handles_stay_bounded_and_reopen_what_they_closed(tmp_path: Path) -> None:
    for n in range(20):
        (tmp_path / f"d{n}" / "sub").mkdir(parents=True)
    handles = DirectoryHandles(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), limit=4)
    try:
        for _ in range(2):
            for n in range(20):
                with handles.held(f"d{n}/sub") as fd:
                    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
                assert len(handles._fds) <= 4
    finally:
        handles.close()
    assert all((tmp_path / f"d{n}" / "sub" / "f").is_file() for n in range(20))
