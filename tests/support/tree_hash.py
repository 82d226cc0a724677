"""A fingerprint of everything under a directory, to prove a restore changed nothing there."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def fingerprint(root: Path, *, skip: Path | None = None) -> dict[str, tuple[object, ...]]:
    """Every path under `root` (except `skip` and below): type, mode, owner, size, mtime,
    and a file's content hash or a link's target. Never follows a symlink."""
    found: dict[str, tuple[object, ...]] = {}
    for directory, dirs, files in os.walk(root, followlinks=False):
        here = Path(directory)
        if skip is not None and (here == skip or skip in here.parents):
            dirs.clear()
            continue
        for name in sorted([*dirs, *files]):
            path = here / name
            if skip is not None and path == skip:
                continue
            found[str(path.relative_to(root))] = _describe(path)
    found["."] = _describe(root)
    return found


def _describe(path: Path) -> tuple[object, ...]:
    st = path.lstat()
    common = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink)
    if stat.S_ISLNK(st.st_mode):
        return (*common, str(path.readlink()))
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return (*common, st.st_size, st.st_mtime_ns, digest)
    return (*common, st.st_mtime_ns)
