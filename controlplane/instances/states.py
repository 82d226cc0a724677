"""The instance state machine: every allowed transition, in one table.

provisioning → running → hibernating → hibernated → waking → running, plus failed and
deleted; running → failing_over → running when a host is lost (or hibernated, its snapshot
the way back, when no new host could take it); running → fenced → running when the host
stopped the instance's work on its own (it lost the control plane past its fence bound)
and is re-assigned in place at a new epoch (or fenced → failing_over when it is gone).
A user's request that the current state does not allow is a Conflict (409) that names
the state and says what to do instead; the orchestration's own steps go through the same
table, so a bug that skips a step fails loudly instead of corrupting an instance.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import Conflict


class InstanceState(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    HIBERNATING = "hibernating"
    HIBERNATED = "hibernated"
    WAKING = "waking"
    FAILING_OVER = "failing_over"
    FENCED = "fenced"
    """Its host fenced itself (its work was stopped, snapshots are refused): never shown
    as running; the control plane re-assigns it in place or fails it over."""
    FAILED = "failed"
    DELETED = "deleted"


class Action(StrEnum):
    """What moves an instance: user requests, and the outcome of each orchestration step."""

    HIBERNATE = "hibernate"
    HIBERNATED = "hibernated"
    HIBERNATE_FAILED = "hibernate_failed"
    WAKE = "wake"
    WOKE = "woke"
    WAKE_FAILED = "wake_failed"
    PROVISIONED = "provisioned"
    PROVISION_FAILED = "provision_failed"
    DELETE = "delete"
    FAIL = "fail"
    FAIL_OVER = "fail_over"
    FAILED_OVER = "failed_over"
    FAILOVER_FAILED = "failover_failed"
    FAILOVER_ABORTED = "failover_aborted"
    FAILOVER_ABORTED_FENCED = "failover_aborted_fenced"
    FENCE = "fence"
    REASSIGNED = "reassigned"


S = InstanceState
TRANSITIONS: dict[Action, tuple[frozenset[InstanceState], InstanceState]] = {
    Action.HIBERNATE: (frozenset({S.RUNNING}), S.HIBERNATING),
    Action.HIBERNATED: (frozenset({S.HIBERNATING}), S.HIBERNATED),
    Action.HIBERNATE_FAILED: (frozenset({S.HIBERNATING}), S.RUNNING),
    Action.WAKE: (frozenset({S.HIBERNATED}), S.WAKING),
    Action.WOKE: (frozenset({S.WAKING}), S.RUNNING),
    Action.WAKE_FAILED: (frozenset({S.WAKING}), S.HIBERNATED),
    Action.PROVISIONED: (frozenset({S.PROVISIONING}), S.RUNNING),
    Action.PROVISION_FAILED: (frozenset({S.PROVISIONING}), S.FAILED),
    # Not while hibernating or waking: the host and the snapshot are in flux.
    Action.DELETE: (
        frozenset({S.PROVISIONING, S.RUNNING, S.HIBERNATED, S.FAILED, S.FENCED}),
        S.DELETED,
    ),
    Action.FAIL: (frozenset(set(S) - {S.DELETED, S.FAILED}), S.FAILED),
    Action.FAIL_OVER: (frozenset({S.RUNNING, S.FENCED}), S.FAILING_OVER),
    Action.FAILED_OVER: (frozenset({S.FAILING_OVER}), S.RUNNING),
    # No host could take it: the latest snapshot is its way back (wake it later).
    Action.FAILOVER_FAILED: (frozenset({S.FAILING_OVER}), S.HIBERNATED),
    # Nothing to restore (no snapshot, and the last one failed): it stays where it was.
    Action.FAILOVER_ABORTED: (frozenset({S.FAILING_OVER}), S.RUNNING),
    # The same, for an instance that was fenced when the failover began: still fenced.
    Action.FAILOVER_ABORTED_FENCED: (frozenset({S.FAILING_OVER}), S.FENCED),
    # The host reports it fenced itself; an Assign at a higher epoch (same host) lifts it.
    Action.FENCE: (frozenset({S.RUNNING}), S.FENCED),
    Action.REASSIGNED: (frozenset({S.FENCED}), S.RUNNING),
}
"""action -> (the states it is allowed from, the state it leads to)."""

INITIAL_STATE = S.PROVISIONING
"""Where `create` puts a new instance."""

SETTLED = frozenset({S.RUNNING, S.HIBERNATED, S.FAILED, S.DELETED, S.FENCED})
"""States no operation is in the middle of."""

_HINTS: dict[InstanceState, str] = {
    S.PROVISIONING: "wait until it is running",
    S.RUNNING: "it is already running",
    S.HIBERNATING: "wait until it is hibernated",
    S.HIBERNATED: "wake it first",
    S.WAKING: "wait until it is running",
    S.FAILING_OVER: "wait until it is running on its new host",
    S.FENCED: (
        "its host stopped its work after losing the control plane; wait until it is "
        "re-assigned (when the host is back) or failed over (when it is gone)"
    ),
    S.FAILED: "delete it and create a new one",
    S.DELETED: "it no longer exists",
}


class StateConflict(Conflict):
    """A request the instance's current state does not allow; carries that state."""

    def __init__(self, instance_id: str, action: str, current: InstanceState) -> None:
        super().__init__(
            f"cannot {action} instance {instance_id}: it is {current}; {_HINTS[current]}",
            field="state",
        )
        self.current = current


def allowed(action: Action, current: InstanceState) -> bool:
    return current in TRANSITIONS[action][0]


def check(action: Action, current: InstanceState, instance_id: str) -> InstanceState:
    """The state `action` leads to from `current`; StateConflict when not allowed."""
    sources, target = TRANSITIONS[action]
    if current not in sources:
        raise StateConflict(instance_id, action.value.replace("_", " "), current)
    return target


def require(current: InstanceState, needed: InstanceState, action: str, instance_id: str) -> None:
    """For requests that change no state (take a snapshot: running only)."""
    if current != needed:
        raise StateConflict(instance_id, action, current)
