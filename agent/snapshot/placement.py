"""What the snapshot engine asks of the host's placement (agent/fencing implements it).

The snapshot package knows nothing of epochs: it asks which repository to use and, around
the manifest write (the snapshot's commit point), lets a `CommitGuard` veto the commit.
Without a placement (the `torpor-agent snapshot` CLI, a host with no assignment) nothing
changes: the configured repository, no guard.
"""

from __future__ import annotations

from typing import Protocol

from .errors import SnapshotError
from .store.base import ObjectStore


class SnapshotFenced(SnapshotError):
    """A newer placement of the instance claimed the repository: this host may not commit."""


class CommitGuard(Protocol):
    """Checks made right before and right after a manifest is written."""

    @property
    def epoch(self) -> int:
        """The placement's epoch, recorded in the manifest it lets through."""
        ...

    def before_commit(self, store: ObjectStore) -> None:
        """Raises SnapshotFenced when the manifest must not be written at all."""
        ...

    def after_commit(self, store: ObjectStore) -> None:
        """Raises SnapshotFenced when the manifest just written must be deleted again."""
        ...


class Placement(Protocol):
    """The host's current placement, read at the start of each operation."""

    def repository(self) -> str | None:
        """The assignment's repository URL; None: the configured one."""
        ...

    def repository_key(self) -> bytes:
        """The 32-byte key secret of that repository; empty: unencrypted (or configured)."""
        ...

    def commit_guard(self) -> CommitGuard | None:
        """The guard for a snapshot taken now; None: commit unguarded."""
        ...
