"""Every change a restore makes to the disk, confined to the target directory.

Paths come from a manifest, which a hostile repository can write (paths.py has already
refused `..`, absolute paths and entries beneath non-directories). What this module adds:
no call ever resolves a path through a symlink. Directories are opened from their parent's
fd with `O_NOFOLLOW` (dir_handles.py); files are created with `O_EXCL | O_NOFOLLOW`, their
mode, owner and times set through their own fd before they are renamed into place;
symlinks are created only after every file and hard link (so nothing is ever written
through one); a hard link may only point at a file this same restore created (checked by
inode); whatever stands in the way of an entry is removed without following symlinks out
of the tree (`shutil.rmtree` with `dir_fd`, which uses fd-relative calls throughout).

Ownership and setuid/setgid bits are a privilege the repository must earn: see `Ownership`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .dir_handles import DirectoryHandles
from .format import Entry
from .paths import ROOT, name_of, parent_of

TEMP_PREFIX = ".torpor-restore-"
CREATE_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
FD_RESERVE = 256  # fds left for files being written, sockets and the rest
PRIVILEGED_BITS = stat.S_ISUID | stat.S_ISGID


@dataclass(frozen=True)
class Ownership:
    """Who restored entries belong to, and whether setuid/setgid bits survive.

    `trusted` (an authenticated repository, or the operator's explicit flag): the
    manifest's owners and mode bits, as recorded. Otherwise the repository could plant a
    root-owned setuid binary, so every entry takes the owner of the target directory and
    loses its setuid/setgid bits; the rest of the mode is kept.
    """

    trusted: bool
    uid: int
    gid: int
    can_chown: bool

    @classmethod
    def for_target(cls, target: Path, *, trusted: bool) -> Ownership:
        """The policy for a restore into `target` (or its nearest existing parent)."""
        place = next(p for p in (target, *target.parents) if p.exists())
        st = place.stat()
        return cls(trusted, st.st_uid, st.st_gid, os.geteuid() == 0)

    def mode(self, entry: Entry) -> int:
        return entry.mode if self.trusted else entry.mode & ~PRIVILEGED_BITS

    def owner(self, entry: Entry) -> tuple[int, int] | None:
        """The (uid, gid) to give `entry`, or None when nothing is to be changed."""
        if not self.can_chown:
            return None
        if self.trusted:
            return entry.uid, entry.gid
        return self.uid, self.gid


class ConfinedTree:
    """The target of one restore; `open()` first, `close()` always."""

    def __init__(self, root: Path, ownership: Ownership) -> None:
        self._root = root
        self._ownership = ownership
        self._token = secrets.token_hex(4)  # temp names no manifest entry will happen to use
        self._handles: DirectoryHandles | None = None
        self._created: dict[str, tuple[int, int]] = {}  # hard link sources → (st_dev, st_ino)
        self._own = (os.geteuid(), os.getegid())

    def open(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        root_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._handles = DirectoryHandles(root_fd, _handle_limit())

    def close(self) -> None:
        if self._handles is not None:
            self._handles.close()
            self._handles = None

    # ---- directories ----------------------------------------------------------------

    def make_dir(self, path: str) -> None:
        """A real directory at `path` (whatever non-directory stood there is removed)."""
        with self._dirs.held(parent_of(path)) as parent:
            name = name_of(path)
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                    os.unlink(name, dir_fd=parent)
                    os.mkdir(name, 0o700, dir_fd=parent)
        with self._dirs.held(path) as fd:  # opened with O_NOFOLLOW: a raced symlink fails
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & stat.S_IRWXU != stat.S_IRWXU:  # an old copy's read-only directory
                os.fchmod(fd, mode | stat.S_IRWXU)

    def finish_dir(self, path: str, entry: Entry) -> None:
        """Mode, owner and times of a directory, through its fd (after its children)."""
        with self._dirs.held("" if path == ROOT else path) as fd:
            self._set_metadata(fd, entry)

    # ---- files ----------------------------------------------------------------------

    def create_temp(self, path: str, serial: int, size: int) -> tuple[int, str]:
        """A new, private temporary file beside `path` (fd, name), `size` bytes of hole."""
        temp = f"{TEMP_PREFIX}{self._token}-{serial}"
        with self._dirs.held(parent_of(path)) as parent:
            try:
                fd = os.open(temp, CREATE_FILE, 0o600, dir_fd=parent)
            except FileExistsError:  # only a planted file can hold this random name
                os.unlink(temp, dir_fd=parent)
                fd = os.open(temp, CREATE_FILE, 0o600, dir_fd=parent)
        if size:
            os.ftruncate(fd, size)  # the holes of a sparse file stay holes
        return fd, temp

    def finish_file(
        self, path: str, fd: int, temp: str, entry: Entry, *, linked: bool = False
    ) -> None:
        """Sets the file's metadata through `fd`, closes it and renames it into place.
        `linked`: a hard link will name it, so its inode is recorded (see hard_link)."""
        try:
            self._set_metadata(fd, entry, fresh=True)
            st = os.fstat(fd) if linked else None
        finally:
            os.close(fd)
        with self._dirs.held(parent_of(path)) as parent:
            self._replace(parent, temp, path)
        if st is not None:
            self._created[path] = (st.st_dev, st.st_ino)

    def discard_temp(self, path: str, temp: str) -> None:
        with self._dirs.held(parent_of(path)) as parent, contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=parent)

    # ---- links ----------------------------------------------------------------------

    def hard_link(self, path: str, source: str) -> None:
        """`path` becomes another name of `source`, a file this restore created."""
        with (
            self._dirs.held(parent_of(source)) as source_dir,
            self._dirs.held(parent_of(path)) as parent,
        ):
            st = os.stat(name_of(source), dir_fd=source_dir, follow_symlinks=False)
            if self._created.get(source) != (st.st_dev, st.st_ino):
                raise OSError(errno.EPERM, f"{source} is not a file this restore created", path)
            self._clear(parent, path)
            os.link(
                name_of(source),
                name_of(path),
                src_dir_fd=source_dir,
                dst_dir_fd=parent,
                follow_symlinks=False,
            )

    def symlink(self, path: str, entry: Entry) -> None:
        """Creates the link itself (its target is text, never resolved here)."""
        with self._dirs.held(parent_of(path)) as parent:
            self._clear(parent, path)
            name = name_of(path)
            os.symlink(entry.target, name, dir_fd=parent)
            owner = self._ownership.owner(entry)
            if owner is not None:
                os.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
            times = (entry.mtime_ns, entry.mtime_ns)
            os.utime(name, ns=times, dir_fd=parent, follow_symlinks=False)

    # ---- helpers --------------------------------------------------------------------

    @property
    def _dirs(self) -> DirectoryHandles:
        if self._handles is None:
            raise RuntimeError("ConfinedTree used before open()")
        return self._handles

    def _set_metadata(self, fd: int, entry: Entry, *, fresh: bool = False) -> None:
        """`fresh`: a file this restore just created, so already owned by this process."""
        owner = self._ownership.owner(entry)
        if owner is not None and not (fresh and owner == self._own):
            os.fchown(fd, *owner)  # before chmod: chown clears setuid/setgid bits
        os.fchmod(fd, self._ownership.mode(entry))
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))

    def _replace(self, parent: int, temp: str, path: str) -> None:
        name = name_of(path)
        try:
            os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as error:  # a directory stands where the file goes
            if error.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise
            self._clear(parent, path)
            os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)

    def _clear(self, parent: int, path: str) -> None:
        """Removes whatever is at `path`, never following a symlink out of the tree."""
        name = name_of(path)
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            self._dirs.forget(path)
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)


def _handle_limit() -> int:
    """Directory fds kept open: half of what the process may still open, at least 64."""
    soft = os.sysconf("SC_OPEN_MAX")
    return max(64, (soft - FD_RESERVE) // 2)
