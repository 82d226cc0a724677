"""The fence for `torpor-agent snapshot create` run by hand on a host that serves an
instance: the same `EpochGuard` the daemon puts around its manifest writes.

Without it, a fenced host (or one whose epoch a newer placement claimed) could still add a
manifest to the instance's repository with the CLI, and that manifest would be the newest
one `snapshot list` shows and `restore latest` picks: stale data. The CLI reads the held
assignment (`<state dir>/assignment.json`, written by the daemon) and, when the snapshot
goes to that assignment's repository, commits only as the daemon would: not while fenced,
not below a newer claim. The assignment is read again at each check, so a fence the daemon
takes while the CLI is running still stops the commit.
"""

from __future__ import annotations

from pathlib import Path

from ..config import AgentConfig
from ..errors import PermanentError
from ..snapshot import assigned
from ..snapshot.placement import CommitGuard
from .assignment import AssignmentStore, HeldAssignment
from .claims import EpochGuard


def held_guard(config: AgentConfig, repository: str) -> CommitGuard | None:
    """The guard for a snapshot into `repository`; None when this host holds no
    assignment, or one for another repository (a snapshot of something else)."""
    store = AssignmentStore(config.state_dir())
    held = store.load()
    if held is None or not _same(repository, _repository_of(held, config)):
        return None
    return EpochGuard(held.instance_id, held.epoch, lambda: _fenced_since(store, held))


def _repository_of(held: HeldAssignment, config: AgentConfig) -> str:
    return held.repository or assigned.repository(config) or config.snapshot.repository or ""


def _fenced_since(store: AssignmentStore, taken: HeldAssignment) -> str | None:
    """Why the snapshot may not commit now (fenced, re-assigned); None: it may."""
    try:
        held = store.load()
    except PermanentError as error:
        return str(error)
    if held is None:
        return "this host no longer holds an assignment"
    if held.fenced:
        return (
            f"this host is fenced for {held.instance_id} at epoch {held.epoch} "
            f"({held.fence_reason}); only an Assign with a higher epoch lifts it"
        )
    if (held.instance_id, held.epoch) != (taken.instance_id, taken.epoch):
        return f"the assignment changed to {held.instance_id} epoch {held.epoch}"
    return None


def _same(left: str, right: str) -> bool:
    return bool(left) and _normal(left) == _normal(right)


def _normal(url: str) -> str:
    """A local path resolved (a URL as it is, without a trailing slash)."""
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    path = url.removeprefix("file://")
    return str(Path(path).expanduser().resolve())
