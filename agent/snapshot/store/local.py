"""A repository in a local directory: one file per object, written atomically.

Every write goes to a temp file in the destination's own directory, is fsynced, and only
then takes the object's name (rename, or link for a conditional create), after which the
directory is fsynced: a crash leaves the old object or the new one, never a partial one.
No state is shared between calls, so the store is thread-safe without a lock: temp names
are unique and rename/link/unlink are atomic in the kernel.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import (
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreFull,
)

TEMP_PREFIX = ".tmp-"
"""Names of half-written objects; `list` skips them, and no key component may start so."""

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM}


class LocalStore:
    """Objects as files under `root`; a key's slashes become directories."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def describe(self) -> str:
        return str(self._root)

    def put(self, key: str, data: bytes | memoryview, *, if_absent: bool = False) -> None:
        path = self._path(key)
        with _mapped_errors(path):
            self._make_parents(path.parent)
            temp = self._write_temp(path.parent, data)
            try:
                if if_absent:
                    _link_new(temp, path, key, self.describe())
                else:
                    temp.replace(path)
            finally:
                temp.unlink(missing_ok=True)
            _fsync_dir(path.parent)

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        path = self._path(key)
        with _mapped_errors(path, key=key):
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                # never past the end: pread allocates all it is asked for (a bounded read of
                # a small object asks for its kind's cap, up to a GiB)
                end = size if length is None else min(start + length, size)
                return _pread_all(fd, start, end)
            finally:
                os.close(fd)

    def size(self, key: str) -> int:
        path = self._path(key)
        with _mapped_errors(path, key=key):
            info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a directory: only a prefix of other keys
            raise ObjectNotFound(f"object {key} does not exist at {path}")
        return info.st_size

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the deepest directory the prefix names fully; filter the rest by name.
        start = self._root.joinpath(*prefix.split("/")[:-1])
        with _mapped_errors(start):
            found = list(self._walk(start, prefix))
        return iter(found)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _mapped_errors(path):
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                return  # already gone: deletes are retried
            _fsync_dir(path.parent)

    def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        """The file for `key`; refuses keys that would escape root or look like temp files."""
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(TEMP_PREFIX) for p in parts):
            raise StoreError(f"{self.describe()}: invalid object key {key!r}")
        return self._root.joinpath(*parts)

    def _make_parents(self, directory: Path) -> None:
        """Creates missing directories, fsyncing each one's parent so the new entry survives."""
        if directory.is_dir():
            return
        self._make_parents(directory.parent)
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
            return  # another thread made it first
        _fsync_dir(directory.parent)

    def _write_temp(self, directory: Path, data: bytes | memoryview) -> Path:
        temp = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return temp

    def _walk(self, start: Path, prefix: str) -> Iterator[ObjectInfo]:
        # os.walk ignores unreadable directories unless told: a listing that silently
        # misses snapshots would let prune delete chunks they still reference.
        for directory, _, files in os.walk(start, onerror=_raise_unless_missing):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                path = Path(directory, name)
                key = path.relative_to(self._root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    yield ObjectInfo(key, path.stat().st_size)
                except FileNotFoundError:
                    continue  # deleted while we walked


def _raise_unless_missing(error: OSError) -> None:
    """A directory that is missing (or is a file) holds no keys; anything else is an error."""
    if not isinstance(error, FileNotFoundError | NotADirectoryError):
        raise error


def _link_new(temp: Path, path: Path, key: str, where: str) -> None:
    """Gives `temp` the name `path` only if that name is free: link(2) fails atomically."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise ObjectExists(f"{where}: object {key} already exists") from None


def _pread_all(fd: int, start: int, end: int) -> bytes:
    """Bytes [start, end) of the file, fewer where it ends first."""
    chunks: list[bytes] = []
    offset = start
    while offset < end:
        chunk = os.pread(fd, end - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _fsync_dir(directory: Path) -> None:
    """Makes a rename, link, create or unlink inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _mapped_errors(path: Path, *, key: str | None = None) -> Iterator[None]:
    """Turns OSError into the store's errors, each naming the path and the fix.

    With `key`, a missing file (or a file where a directory should be) is ObjectNotFound.
    """
    try:
        yield
    except StoreError:
        raise
    except OSError as error:
        raise _translate(error, path, key) from error


def _translate(error: OSError, path: Path, key: str | None) -> StoreError:
    code = error.errno
    missing = code in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)
    if key is not None and missing:
        return ObjectNotFound(f"object {key} does not exist at {path}")
    if code in _NO_SPACE:
        return StoreFull(f"no space left on device at {path}: free space or move the repository")
    if code in _DENIED:
        return StoreAccessDenied(
            f"permission denied at {path}: give this user write access to the repository "
            "directory (or clear an immutable attribute: chattr -i)"
        )
    if code == errno.EROFS:
        return StoreAccessDenied(
            f"read-only file system at {path}: remount it read-write or move the repository"
        )
    if code in (errno.EEXIST, errno.ENOTDIR):  # mkdir or open through a file on the path
        return StoreError(
            f"{path}: {error.strerror}: part of the repository path is a file, not a directory;"
            " choose another repository location"
        )
    return StoreError(f"{path}: {error.strerror or error}")
