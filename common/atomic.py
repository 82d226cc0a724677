"""Crash-safe file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replaces `path` with `data` atomically and durably.

    Write a temp file in the same directory (rename is only atomic within one
    filesystem), fsync it, rename it over the target, then fsync the directory
    so the rename itself survives a power cut. The mode is set on the temp file
    before any byte is written, so a secret is never readable by others.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp_name).unlink()
        raise
    fsync_directory(directory)


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def fsync_directory(directory: Path) -> None:
    """Makes a rename or create inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_new_file(path: Path, data: bytes) -> None:
    """Writes `data` to a temp file (0600 before any byte), fsyncs it, then links it into
    place: a link never replaces an existing file, so of two processes starting together
    both end up reading the one winner, and a secret once made is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its file
            os.link(tmp_name, path)
        fsync_directory(path.parent)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
