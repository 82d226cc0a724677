"""The repository this host's workspace belongs to, when it is not the configured one.

A warm standby is started with a repository of its own; once it restores an instance's
snapshot from that instance's repository (`Restore.repository`), its later snapshots must
go there too, across agent restarts. Kept in `<state dir>/repository` (atomic write).
The fencing work's `Assignment.repository` states the same thing: one place to merge.
"""

from __future__ import annotations

from pathlib import Path

from torpor.common.atomic import atomic_write_text

from ..config import AgentConfig

FILE_NAME = "repository"


def _path(config: AgentConfig) -> Path:
    return config.state_dir() / FILE_NAME


def repository(config: AgentConfig) -> str:
    """The adopted repository URL; empty: the configured one applies."""
    try:
        return _path(config).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def adopt(config: AgentConfig, url: str) -> None:
    atomic_write_text(_path(config), url + "\n", mode=0o600)
