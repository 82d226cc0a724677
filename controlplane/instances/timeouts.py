"""How long each operation's agent commands may take, and the fencing bounds sent with
each Assign: one object the lifecycle's collaborators share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    hibernate_s: float = 3600.0
    """For the agent's whole hibernate sequence: grace period, hooks, final snapshot."""
    restore_s: float = 3600.0
    snapshot_s: float = 3600.0
    command_s: float = 60.0
    """For short agent commands (the idle policy of a new or woken instance)."""
    fence_after_s: float = 60.0
    """Sent in each Assign: the agent stops the instance's work after this long without
    the control plane (not a timeout of ours; carried here with the agent's others)."""
    fence_margin_s: float = 26.0
    """A failover that cannot confirm the old host is gone waits `fence_after_s` + this
    from the old host's last heartbeat before assigning the new one."""
