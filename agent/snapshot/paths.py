"""Manifest entries checked before a restore touches the disk.

A manifest comes from the object store, which more people and programs can write to than
the host that restores it (as root, on every wake). So every entry is checked, all of them
before the first file is written: a path is relative, normalised (no empty, `.` or `..`
component), free of NUL and within the platform's name limits; every entry sits inside a
directory entry listed before it (never beneath a file or a symlink); a hard link names an
earlier regular file of the same snapshot; only files, directories and symlinks exist
(device nodes, FIFOs and sockets are never created). A bad entry fails the whole restore
with one line naming it, and nothing has been written.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import IntegrityError
from .format import Entry

ROOT = "."
NAME_MAX_BYTES = 255  # Linux NAME_MAX: one path component
PATH_MAX_BYTES = 4095  # Linux PATH_MAX less the terminating NUL
MODE_MAX = 0o7777
ID_MAX = 2**32 - 2  # uid/gid 2**32 - 1 is chown's "leave unchanged"
TIME_NS_MAX = 2**63 - 1
KINDS = frozenset({"file", "dir", "symlink"})


class UnsafeEntry(IntegrityError):
    """A manifest entry a restore must not act on (a hostile or damaged repository)."""


def check_entries(entries: Sequence[Entry], snapshot: str) -> None:
    """Raises UnsafeEntry naming the first entry that is not safe to restore."""
    kinds: dict[str, str] = {}  # path → "dir" | "file" (a regular file) | "other"
    for index, entry in enumerate(entries):
        problem = _problem(entry, index, kinds)
        if problem is not None:
            raise UnsafeEntry(
                f"snapshot {snapshot[:12]}: entry {_shown(entry.path)} {problem};"
                " the repository is damaged or was tampered with, nothing was restored"
            )
        regular = entry.kind == "file" and not entry.hardlink
        kinds[entry.path] = entry.kind if entry.kind == "dir" or regular else "other"


def parent_of(path: str) -> str:
    """The parent directory of a checked path; "" is the restore's root."""
    return path.rpartition("/")[0]


def name_of(path: str) -> str:
    return path.rpartition("/")[2]


def _problem(entry: Entry, index: int, kinds: dict[str, str]) -> str | None:
    if entry.kind not in KINDS:
        return f"is a {_shown(entry.kind)}: only files, directories and symlinks are restored"
    if entry.path == ROOT:
        ok = index == 0 and entry.kind == "dir"
        return None if ok else "names the root but is not the first entry, or not a directory"
    problem = path_problem(entry.path)
    if problem is None and entry.path in kinds:
        problem = "appears twice"
    if problem is None:
        problem = _parent_problem(entry.path, kinds)
    return problem or _field_problem(entry) or _kind_problem(entry, kinds)


def path_problem(path: str) -> str | None:
    """Why `path` is not a relative, normalised path within the platform limits (or None)."""
    if not path:
        return "has an empty path"
    if "\x00" in path:
        return "contains a NUL character"
    if path.startswith("/"):
        return "is an absolute path"
    try:
        size = len(path.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return "is not a valid file name"
    if size > PATH_MAX_BYTES:
        return f"is longer than {PATH_MAX_BYTES} bytes"
    return next(filter(None, map(_component_problem, path.split("/"))), None)


def _component_problem(part: str) -> str | None:
    if part in ("", ".", ".."):
        return f"has a {_shown(part)} component"
    if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX_BYTES:
        return f"has a component longer than {NAME_MAX_BYTES} bytes"
    return None


def _parent_problem(path: str, kinds: dict[str, str]) -> str | None:
    parent = parent_of(path)
    if not parent or kinds.get(parent) == "dir":
        return None
    if parent in kinds:
        return f"lies beneath {_shown(parent)}, which is not a directory"
    return f"lies in {_shown(parent)}, which is not a directory listed before it"


def _field_problem(entry: Entry) -> str | None:
    if not 0 <= entry.mode <= MODE_MAX:
        return f"has mode {entry.mode}, outside 0..0o7777"
    if not (0 <= entry.uid <= ID_MAX and 0 <= entry.gid <= ID_MAX):
        return f"has owner {entry.uid}:{entry.gid}, outside 0..{ID_MAX}"
    if not 0 <= entry.mtime_ns <= TIME_NS_MAX:
        return f"has mtime {entry.mtime_ns} ns, outside the representable range"
    if entry.size < 0:
        return f"has size {entry.size}"
    return None


def _kind_problem(entry: Entry, kinds: dict[str, str]) -> str | None:
    if entry.kind == "symlink":
        return _symlink_problem(entry)
    if entry.kind == "dir":
        has_content = entry.extents or entry.hardlink or entry.target
        return "is a directory with file content" if has_content else None
    if entry.target:
        return "is a file with a link target"
    if entry.hardlink:
        if entry.extents:
            return "is a hard link with content of its own"
        if path_problem(entry.hardlink) is not None or kinds.get(entry.hardlink) != "file":
            return f"is a hard link to {_shown(entry.hardlink)}, not to a file restored before it"
    return None


def _symlink_problem(entry: Entry) -> str | None:
    if entry.extents or entry.hardlink:
        return "is a symlink with file content"
    if not entry.target or "\x00" in entry.target:
        return "is a symlink with an empty target or a NUL in it"
    if len(entry.target.encode("utf-8", "surrogateescape")) > PATH_MAX_BYTES:
        return f"is a symlink whose target is longer than {PATH_MAX_BYTES} bytes"
    return None


def _shown(text: str) -> str:
    """A name as it may safely appear in one line of a message (quoted, bounded)."""
    shown = repr(text)
    return shown if len(shown) <= 120 else f"{shown[:117]}..."
