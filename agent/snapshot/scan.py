"""Walking the workspace into manifest entries, deciding which files must be read.

A file whose size, mtime, ctime and inode all match its entry in the parent snapshot is
not read at all: its chunk list is copied. That is what makes the snapshot after a
training session cost seconds on a workspace of hundreds of gigabytes.
"""

from __future__ import annotations

import fnmatch
import grp
import os
import pwd
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import error_lines
from .errors import WorkspaceError
from .format import Entry, Manifest

SPARSE_BLOCK_BYTES = 512


@dataclass
class ScanResult:
    """The tree in walk order; `to_read` indexes the entries whose content must be read."""

    entries: list[Entry] = field(default_factory=list)
    to_read: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_to_read: int = 0


class Scanner:
    def __init__(self, root: Path, excludes: list[str], parent: Manifest | None) -> None:
        self._root = root
        self._excludes = excludes
        self._parent = {e.path: e for e in parent.entries} if parent is not None else {}
        self._inodes: dict[tuple[int, int], str] = {}

    def scan(self) -> ScanResult:
        try:
            top = self._root.stat()
        except OSError as error:
            raise WorkspaceError(f"workspace {self._root}: {error.strerror}") from error
        if not stat.S_ISDIR(top.st_mode):
            raise WorkspaceError(f"workspace {self._root} is not a directory")
        result = ScanResult()
        result.entries.append(_entry(".", "dir", top))
        self._walk(self._root, "", result)
        return result

    def _walk(self, directory: Path, relative: str, result: ScanResult) -> None:
        try:
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda d: d.name)
        except OSError as error:
            raise WorkspaceError(
                f"cannot list {directory}: {error.strerror}{error_lines.hint(error)}"
            ) from error
        for child in children:
            path = f"{relative}{child.name}"
            if self._excluded(path):
                continue
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                result.entries.append(_entry(path, "dir", st))
                self._walk(Path(child.path), f"{path}/", result)
            elif stat.S_ISREG(st.st_mode):
                self._file(path, st, result)
            elif stat.S_ISLNK(st.st_mode):
                entry = _entry(path, "symlink", st)
                entry.target = str(Path(child.path).readlink())
                result.entries.append(entry)
            else:
                result.skipped.append(path)

    def _file(self, path: str, st: os.stat_result, result: ScanResult) -> None:
        entry = _entry(path, "file", st)
        entry.size, entry.ctime_ns, entry.inode = st.st_size, st.st_ctime_ns, st.st_ino
        if st.st_nlink > 1:
            first = self._inodes.setdefault((st.st_dev, st.st_ino), path)
            if first != path:
                entry.hardlink = first
                result.entries.append(entry)
                return
        entry.sparse = st.st_blocks * SPARSE_BLOCK_BYTES < st.st_size
        previous = self._parent.get(path)
        if previous is not None and _unchanged(previous, entry):
            entry.extents = previous.extents
        elif st.st_size > 0:
            result.to_read.append(len(result.entries))
            result.bytes_to_read += st.st_size
        result.entries.append(entry)

    def _excluded(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self._excludes)


def _unchanged(previous: Entry, current: Entry) -> bool:
    return (
        previous.kind == "file"
        and not previous.hardlink
        and previous.size == current.size
        and previous.mtime_ns == current.mtime_ns
        and previous.ctime_ns == current.ctime_ns
        and previous.inode == current.inode
    )


def _entry(path: str, kind: str, st: os.stat_result) -> Entry:
    return Entry(
        path=path,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=st.st_mtime_ns,
        user=_user(st.st_uid),
        group=_group(st.st_gid),
    )


@lru_cache(maxsize=256)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=256)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""
