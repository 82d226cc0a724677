"""The repository this host's workspace belongs to, when it is not the configured one.

A warm standby is started with a repository of its own; once it restores an instance's
snapshot from that instance's repository (`Restore.repository`), its later snapshots must
go there too, across agent restarts. Kept in `<state dir>/repository`, and that
repository's key secret (encrypted repositories) in `<state dir>/repository.key`, both
written atomically with mode 0600. The fencing work's `Assignment.repository` states the
same thing: one place to merge.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from torpor.common.atomic import atomic_write_text

from ..config import AgentConfig

FILE_NAME = "repository"
KEY_FILE_NAME = "repository.key"


def _path(config: AgentConfig, name: str = FILE_NAME) -> Path:
    return config.state_dir() / name


def repository(config: AgentConfig) -> str:
    """The adopted repository URL; empty: the configured one applies."""
    try:
        return _path(config).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def repository_key(config: AgentConfig) -> bytes:
    """The adopted repository's key secret; empty: none (unencrypted, or none adopted)."""
    try:
        return bytes.fromhex(_path(config, KEY_FILE_NAME).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return b""


def adopt(config: AgentConfig, url: str, key: bytes = b"") -> None:
    """The key first: a crash between the two writes leaves the old URL with a spare key."""
    if key:
        atomic_write_text(_path(config, KEY_FILE_NAME), key.hex() + "\n", mode=0o600)
    else:
        with contextlib.suppress(FileNotFoundError):
            _path(config, KEY_FILE_NAME).unlink()
    atomic_write_text(_path(config), url + "\n", mode=0o600)
