"""Restore into the agent's workspace: only an empty one, and all or nothing.

A wake or a failover restores onto a fresh host. If the workspace already holds files,
someone's work is there and a restore must not overwrite it, so it is refused. The tree is
restored into a staging folder inside the workspace and its entries renamed into place
only when every file is complete; a failure removes the staging folder, so the workspace
is empty again and the same restore can simply be retried.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from . import operations
from .errors import WorkspaceError
from .progress import Progress

STAGING = ".torpor-restore-staging"


def restore_into_workspace(
    settings: operations.Settings, reference: str, progress: Progress
) -> str:
    """Restores `reference` into the (empty) configured workspace; returns the snapshot id.

    Raises WorkspaceError when the workspace is not empty, SnapshotError subclasses when
    the snapshot cannot be found or a chunk fails its hash.
    """
    workspace = settings.workspace
    if workspace is None:
        raise WorkspaceError("no workspace configured ([snapshot] workspace)")
    workspace.mkdir(parents=True, exist_ok=True)
    staging = workspace / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a restore the agent did not finish
    _refuse_unless_empty(workspace)
    try:
        snapshot_id = operations.restore(settings, reference, staging, progress)
        _move_into_place(staging, workspace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return snapshot_id


def _refuse_unless_empty(workspace: Path) -> None:
    entries = sorted(entry.name for entry in workspace.iterdir())
    if entries:
        raise WorkspaceError(
            f"workspace {workspace} is not empty ({len(entries)} entries, e.g. {entries[0]!r}):"
            " a restore never overwrites work; empty it or restore on another host"
        )


def _move_into_place(staging: Path, workspace: Path) -> None:
    """Renames the restored entries into the workspace, then gives it the snapshot root's
    mode and times (renaming changed its mtime)."""
    for entry in staging.iterdir():
        entry.rename(workspace / entry.name)
    root = staging.stat()
    staging.rmdir()
    if os.geteuid() == 0:
        os.chown(workspace, root.st_uid, root.st_gid)
    workspace.chmod(stat.S_IMODE(root.st_mode))
    os.utime(workspace, ns=(root.st_atime_ns, root.st_mtime_ns))
