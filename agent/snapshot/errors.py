"""Errors of snapshot operations: each `str()` is one line naming the object and the fix."""

from __future__ import annotations


class SnapshotError(Exception):
    """Base of every snapshot failure the CLI reports as one line."""


class RepositoryNotFound(SnapshotError):
    """No `config` object at the repository's location."""


class RepositoryBusy(SnapshotError):
    """A conflicting lock is held (a prune while creating, or a create while pruning)."""


class SnapshotNotFound(SnapshotError):
    """No snapshot matches the id or prefix given."""


class IntegrityError(SnapshotError):
    """Stored data is missing or does not match its hash."""


class WorkspaceError(SnapshotError):
    """The workspace cannot be read (missing, not a directory, permission)."""
