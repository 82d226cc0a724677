"""Open directory file descriptors of a tree being restored, by relative path.

Every change a restore makes goes through the fd of the directory that holds it
(`openat`-style calls), and each directory is opened from its parent's fd with
`O_NOFOLLOW`: a symlink planted anywhere in the tree, by the repository or by another user
of the host while the restore runs, makes the open fail instead of leading outside.

Directories are opened on first use and kept open. A tree with more directories than
`limit` closes the least recently used ones that no caller holds (they are opened again,
from their parent, when needed), so a million directories never need a million fds.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from .paths import name_of, parent_of

OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class DirectoryHandles:
    """Thread-safe; `held(path)` pins a directory's fd for the duration of a block."""

    def __init__(self, root_fd: int, limit: int) -> None:
        self._fds: OrderedDict[str, int] = OrderedDict({"": root_fd})
        self._pins: Counter[str] = Counter()
        self._limit = max(2, limit)
        self._lock = threading.Lock()

    @contextmanager
    def held(self, directory: str) -> Iterator[int]:
        """The fd of `directory` ("" is the root), not closed before the block ends."""
        with self._lock:
            fd = self._open(directory)
            self._pins[directory] += 1
        try:
            yield fd
        finally:
            with self._lock:
                self._pins[directory] -= 1
                self._evict()

    def forget(self, directory: str) -> None:
        """Closes the fds of `directory` and everything under it (it is being removed)."""
        prefix = f"{directory}/"
        with self._lock:
            for path in [p for p in self._fds if p == directory or p.startswith(prefix)]:
                if path and not self._pins[path]:
                    os.close(self._fds.pop(path))

    def close(self) -> None:
        """Closes every fd, the root's too."""
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def _open(self, directory: str) -> int:
        fd = self._fds.get(directory)
        if fd is not None:
            self._fds.move_to_end(directory)
            return fd
        parent = self._open(parent_of(directory))
        fd = os.open(name_of(directory), OPEN_DIRECTORY, dir_fd=parent)
        self._fds[directory] = fd
        return fd

    def _evict(self) -> None:
        excess = len(self._fds) - self._limit
        if excess <= 0:  # the usual case: no copy of the table per release
            return
        for path in list(self._fds):
            if excess <= 0:
                return
            if path and not self._pins[path]:
                os.close(self._fds.pop(path))
                excess -= 1
