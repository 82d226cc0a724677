"""The fleet's plain data: what an agent says about itself, what an operator sees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from torpor.common.timestamps import utc_now

from ..repository_keys.secret import RepositoryKey

HostState = Literal["connected", "disconnected", "released"]
"""`released`: given back to its provider on purpose; listed only when asked for."""


@dataclass(frozen=True)
class HostView:
    """A host as operators see it through HTTP and AdminService."""

    id: str
    hostname: str
    state: HostState
    agent_version: str
    os: str
    labels: dict[str, str]
    gpus: list[dict[str, Any]]
    joined_at: datetime
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_heartbeat_at: datetime | None
    telemetry: dict[str, Any] | None
    booted_at: datetime | None = None
    draining_since: datetime | None = None
    """Set while the host is drained (no new placements); see operators/drain.py."""
    drained_at: datetime | None = None
    """Set once no instance was left on the draining host."""


@dataclass(frozen=True)
class HostPage:
    """One page of hosts and the total that matched."""

    items: list[HostView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Assignment:
    """The instance a host serves at an epoch (design.md "Failover and fencing")."""

    instance_id: str
    epoch: int
    repository: str = ""
    """The instance's snapshot repository URL; empty: the agent's configured one."""
    fence_after_s: float = 0.0
    """The agent stops the instance's work after this long without the control plane."""
    repository_key: RepositoryKey | None = field(default=None, repr=False, hash=False)
    """The secret of `repository` (encryption at rest); None: unencrypted. Sent only to the
    host placed for the instance; an agent's Hello never carries it back."""
    fenced: bool = False
    """In a Hello only: the agent holds this assignment fenced (it stopped the work)."""


@dataclass(frozen=True)
class Hello:
    """What an agent says first on its stream."""

    host_id: str
    hostname: str
    agent_version: str
    os: str
    labels: dict[str, str] = field(default_factory=dict)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    booted_at: datetime | None = None
    assignment: Assignment | None = None
    """The assignment the agent holds; None: it serves no instance (or is too old to say)."""


@dataclass(frozen=True)
class HeartbeatPolicy:
    """The heartbeat contract the control plane decides and sends in Welcome."""

    interval_s: float
    ttl_s: float
    grace_s: float

    @property
    def lost_after_s(self) -> float:
        return self.ttl_s + self.grace_s


@dataclass(frozen=True)
class Ping:
    payload: str = ""


@dataclass(frozen=True)
class Hibernate:
    """Warn users, wait the grace, run the hooks, take the final snapshot (long: the result,
    with `snapshot_id`, comes when the snapshot is written)."""

    reason: str = ""
    grace_s: int | None = None
    """None: the agent's configured grace."""


@dataclass(frozen=True)
class Restore:
    """Restore a snapshot of the agent's repository into its (empty) workspace (long)."""

    snapshot_id: str
    repository: str = ""
    """The repository to restore from (a warm standby's is not its own); empty: the
    agent's configured one."""
    repository_key: RepositoryKey | None = field(default=None, repr=False, hash=False)
    """The secret of the repository restored from; None: unencrypted."""


@dataclass(frozen=True)
class TakeSnapshot:
    """Take a snapshot now without hibernating (long)."""

    reason: str = "manual"
    keep_forever: bool = False


@dataclass(frozen=True)
class SetIdlePolicy:
    """Replace the agent's idle-policy override (an instance's `idle_policy`): the fields
    of IdlePolicyOverride by name, unset ones left out; `process_allow_list` a list."""

    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prefetch:
    """A warm standby caches these snapshots' chunks (long)."""

    repository: str = ""
    snapshot_ids: list[str] = field(default_factory=list)
    repository_key: RepositoryKey | None = field(default=None, repr=False, hash=False)
    """The secret of `repository`; None: unencrypted."""
    instance_id: str = ""
    """Whose snapshots: the agent caches them in that instance's partition."""
    require_encrypted: bool = False
    """A shared standby's order: the agent refuses an unencrypted repository."""


@dataclass(frozen=True)
class Assign:
    """This host now serves `assignment` (before any other command of that placement)."""

    assignment: Assignment


@dataclass(frozen=True)
class Fence:
    """A newer placement (`epoch`) replaced this host: stop the instance's work."""

    reason: str
    epoch: int


Action = Ping | Hibernate | Restore | TakeSnapshot | SetIdlePolicy | Prefetch | Assign | Fence


@dataclass(frozen=True)
class Command:
    """A command for one agent; the agent answers with a CommandResult of the same id.

    Resend a command with the same id (not a new one) after a lost result: the agent
    answers a repeated id with the result it remembers instead of running it again."""

    action: Action
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    issued_at: datetime = field(default_factory=utc_now)
    epoch: int = 0
    """The placement epoch an instance command belongs to (0: none, e.g. Ping)."""


@dataclass(frozen=True)
class CommandResult:
    command_id: str
    ok: bool
    error: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    snapshot_id: str = ""
    """Hibernate, TakeSnapshot, Restore: the snapshot's full id, when ok."""
    fenced: bool = False
    """The agent refused: the command's epoch is older than the one it holds, or it is
    fenced."""
