"""Small workspaces with every kind of entry, and a comparison that checks all of it."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path

MTIME_NS = 1_700_000_000_123_456_789


def make_tree(root: Path, seed: int = 1, big_bytes: int = 3 * 1024 * 1024) -> Path:
    """Dirs, a big incompressible file, text, empty, sparse, symlinks, a hard link, modes."""
    rng = random.Random(seed)
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "big.bin").write_bytes(rng.randbytes(big_bytes))
    (root / "a" / "notes.txt").write_text("hello\n" * 5000)
    (root / "a" / "b" / "small.py").write_text("print('x')\n")
    (root / "empty").touch()
    with (root / "sparse.img").open("wb") as f:
        f.truncate(64 * 1024 * 1024)
        f.seek(32 * 1024 * 1024)
        f.write(b"data in the middle")
    (root / "link").symlink_to("a/notes.txt")
    (root / "dangling").symlink_to("does/not/exist")
    os.link(root / "a" / "b" / "small.py", root / "hard.py")
    (root / "script.sh").write_text("#!/bin/sh\n")
    (root / "script.sh").chmod(0o751)
    os.utime(root / "a" / "notes.txt", ns=(MTIME_NS, MTIME_NS))
    return root


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path's type, mode, size, mtime and content hash (or link target)."""
    result: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        relative = str(path.relative_to(root))
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            result[relative] = ("link", str(path.readlink()))
        elif stat.S_ISDIR(st.st_mode):
            result[relative] = ("dir", mode, st.st_mtime_ns)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[relative] = ("file", mode, st.st_size, st.st_mtime_ns, digest)
    return result
