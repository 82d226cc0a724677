"""The instance state machine: every allowed transition, every illegal one a Conflict."""

from __future__ import annotations

import pytest

from torpor.controlplane.errors import Conflict
from torpor.controlplane.instances.states import (
    TRANSITIONS,
    Action,
    InstanceState,
    StateConflict,
    check,
    require,
)

pytestmark = pytest.mark.unit
S = InstanceState
ALLOWED = [(a, s) for a, (sources, _) in TRANSITIONS.items() for s in sources]
ILLEGAL = [(a, s) for a, (sources, _) in TRANSITIONS.items() for s in S if s not in sources]


def test_the_documented_lifecycle_is_allowed() -> None:
    path = [
        (Action.PROVISIONED, S.PROVISIONING, S.RUNNING),
        (Action.HIBERNATE, S.RUNNING, S.HIBERNATING),
        (Action.HIBERNATED, S.HIBERNATING, S.HIBERNATED),
        (Action.WAKE, S.HIBERNATED, S.WAKING),
        (Action.WOKE, S.WAKING, S.RUNNING),
        (Action.DELETE, S.RUNNING, S.DELETED),
    ]
    for action, source, target in path:
        assert check(action, source, "i-1") is target


def test_failures_lead_back_to_a_state_that_holds() -> None:
    assert check(Action.HIBERNATE_FAILED, S.HIBERNATING, "i-1") is S.RUNNING
    assert check(Action.WAKE_FAILED, S.WAKING, "i-1") is S.HIBERNATED
    assert check(Action.PROVISION_FAILED, S.PROVISIONING, "i-1") is S.FAILED


def test_failover_moves_a_running_instance_and_back() -> None:
    assert check(Action.FAIL_OVER, S.RUNNING, "i-1") is S.FAILING_OVER
    assert check(Action.FAILED_OVER, S.FAILING_OVER, "i-1") is S.RUNNING
    # no host could take it: hibernated, its latest snapshot the way back
    assert check(Action.FAILOVER_FAILED, S.FAILING_OVER, "i-1") is S.HIBERNATED
    # nothing to restore: it stays on its host
    assert check(Action.FAILOVER_ABORTED, S.FAILING_OVER, "i-1") is S.RUNNING
    with pytest.raises(Conflict, match="is failing_over; wait until it is running"):
        check(Action.HIBERNATE, S.FAILING_OVER, "i-1")
    for source in (S.HIBERNATED, S.WAKING, S.HIBERNATING, S.PROVISIONING):
        with pytest.raises(Conflict):
            check(Action.FAIL_OVER, source, "i-1")


def test_a_self_fenced_host_is_reassigned_in_place_or_failed_over() -> None:
    assert check(Action.FENCE, S.RUNNING, "i-1") is S.FENCED
    assert check(Action.REASSIGNED, S.FENCED, "i-1") is S.RUNNING
    assert check(Action.FAIL_OVER, S.FENCED, "i-1") is S.FAILING_OVER  # its host is lost
    assert check(Action.DELETE, S.FENCED, "i-1") is S.DELETED
    for action in (Action.HIBERNATE, Action.WAKE):  # nothing runs on a fenced host
        with pytest.raises(Conflict, match="is fenced; its host stopped its work"):
            check(action, S.FENCED, "i-1")
    with pytest.raises(Conflict, match="wait until it is re-assigned"):
        require(S.FENCED, S.RUNNING, "take a snapshot of", "i-1")


@pytest.mark.parametrize(("action", "current"), ALLOWED)
def test_every_allowed_transition(action: Action, current: InstanceState) -> None:
    assert check(action, current, "i-1") is TRANSITIONS[action][1]


@pytest.mark.parametrize(("action", "current"), ILLEGAL)
def test_every_illegal_transition_is_a_conflict_naming_the_state(
    action: Action, current: InstanceState
) -> None:
    with pytest.raises(Conflict) as raised:
        check(action, current, "i-1")
    assert isinstance(raised.value, StateConflict)
    assert raised.value.current is current
    assert f"it is {current.value}" in raised.value.message
    assert "i-1" in raised.value.message and raised.value.field == "state"


def test_the_message_says_what_to_do() -> None:
    with pytest.raises(Conflict, match="is hibernated; wake it first"):
        check(Action.HIBERNATE, S.HIBERNATED, "i-1")
    with pytest.raises(Conflict, match="is hibernating; wait until it is hibernated"):
        check(Action.DELETE, S.HIBERNATING, "i-1")


def test_deleted_is_final() -> None:
    assert not [a for a, (sources, _) in TRANSITIONS.items() if S.DELETED in sources]


def test_require_a_state_without_moving() -> None:
    require(S.RUNNING, S.RUNNING, "take a snapshot of", "i-1")
    with pytest.raises(Conflict, match="it is hibernated"):
        require(S.HIBERNATED, S.RUNNING, "take a snapshot of", "i-1")
