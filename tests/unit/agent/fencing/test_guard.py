"""The fencing state machine: adopt, refuse older epochs, fence, and the self-fencing bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.idle import ManualClock
from torpor.agent.commands import CommandDispatcher
from torpor.agent.errors import PermanentError
from torpor.agent.fencing.assignment import AssignmentStore, HeldAssignment
from torpor.agent.fencing.guard import FenceGuard
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit


def assignment(epoch: int, instance: str = "i-1", **extra: object) -> agent_pb2.Assignment:
    return agent_pb2.Assignment(instance_id=instance, epoch=epoch, **extra)  # type: ignore[arg-type]


def snapshot_at(epoch: int, command_id: str = "c-1") -> agent_pb2.Command:
    return agent_pb2.Command(id=command_id, epoch=epoch, take_snapshot=agent_pb2.TakeSnapshot())


@pytest.fixture
def store(tmp_path: Path) -> AssignmentStore:
    return AssignmentStore(tmp_path)


@pytest.fixture
def guard(store: AssignmentStore) -> FenceGuard:
    return FenceGuard(store, ManualClock())


def test_assignment_is_adopted_and_survives_a_restart(
    guard: FenceGuard, store: AssignmentStore
) -> None:
    offered = assignment(3, repository="s3://b/i-1", fence_after_ms=60_000)
    assert guard.take(offered).ok
    assert FenceGuard(store, ManualClock()).hello_assignment() == offered
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"


def test_lower_epoch_is_refused_as_fenced(guard: FenceGuard) -> None:
    guard.take(assignment(5))
    result = guard.take(assignment(4))
    assert (result.ok, result.fenced) == (False, True)
    assert "epoch 4" in result.error and "held epoch 5" in result.error
    assert guard.held is not None and guard.held.epoch == 5


def test_same_or_higher_epoch_replaces_the_held_one(guard: FenceGuard) -> None:
    guard.take(assignment(2, repository="file:///a"))
    assert guard.take(assignment(2, repository="file:///a")).ok  # a resent Assign
    assert guard.take(assignment(3, repository="file:///b")).ok
    assert guard.held == HeldAssignment("i-1", 3, "file:///b")


def test_an_assignment_without_instance_or_epoch_is_invalid(guard: FenceGuard) -> None:
    result = guard.take(agent_pb2.Assignment(instance_id="i-1"))
    assert (result.ok, result.fenced) == (False, False)
    assert "epoch >= 1" in result.error


def test_commands_of_an_older_epoch_are_refused_naming_both(guard: FenceGuard) -> None:
    guard.take(assignment(7))
    refusal = guard.admit(snapshot_at(6))
    assert refusal is not None and refusal.fenced and not refusal.ok
    assert "command epoch 6" in refusal.error and "held epoch 7" in refusal.error
    assert guard.admit(snapshot_at(7)) is None
    assert guard.admit(snapshot_at(0)) is None  # not bound to a placement


def test_fenced_refuses_instance_commands_until_a_higher_epoch(guard: FenceGuard) -> None:
    guard.take(assignment(1))
    assert guard.fence("replaced by epoch 2")
    assert not guard.fence("again")  # idempotent
    ping = agent_pb2.Command(id="p", ping=agent_pb2.Ping())
    prefetch = agent_pb2.Command(id="f", prefetch=agent_pb2.Prefetch())
    assert guard.admit(ping) is None and guard.admit(prefetch) is None
    refusal = guard.admit(snapshot_at(1))
    assert refusal is not None and refusal.fenced and "replaced by epoch 2" in refusal.error
    assert guard.take(assignment(1)).ok  # the same epoch again does not unfence
    assert guard.admit(snapshot_at(1)) is not None
    assert guard.take(assignment(2)).ok
    assert guard.admit(snapshot_at(2)) is None


def test_fenced_survives_a_restart(guard: FenceGuard, store: AssignmentStore) -> None:
    guard.take(assignment(1))
    guard.fence("lost the control plane")
    assert FenceGuard(store, ManualClock()).admit(snapshot_at(1)) is not None


def test_welcome_without_assignment_keeps_the_held_one(guard: FenceGuard) -> None:
    guard.take(assignment(4))
    guard.on_welcome(agent_pb2.Welcome(host_id="h"))
    assert guard.held is not None and guard.held.epoch == 4


def test_welcome_adopts_newer_and_ignores_older(guard: FenceGuard) -> None:
    guard.on_welcome(agent_pb2.Welcome(assignment=assignment(2)))
    guard.on_welcome(agent_pb2.Welcome(assignment=assignment(1)))
    assert guard.held is not None and guard.held.epoch == 2
    guard.on_welcome(agent_pb2.Welcome(assignment=assignment(1, instance="i-2")))
    assert guard.held == HeldAssignment("i-2", 1)


def test_overdue_only_after_the_bound_without_a_stream(store: AssignmentStore) -> None:
    clock = ManualClock()
    guard = FenceGuard(store, clock)
    guard.take(assignment(1, fence_after_ms=60_000))
    guard.link(True)
    clock.advance(600)
    assert not guard.overdue()  # a quiet but live stream is contact
    guard.link(False)
    clock.advance(59.9)
    assert not guard.overdue()
    clock.advance(0.1)
    assert guard.overdue()
    guard.fence("lost the control plane")
    assert not guard.overdue()  # already fenced


def test_never_overdue_with_zero_bound_or_no_assignment(store: AssignmentStore) -> None:
    clock = ManualClock()
    guard = FenceGuard(store, clock)
    clock.advance(10_000)
    assert not guard.overdue()
    guard.take(assignment(1, fence_after_ms=0))
    clock.advance(10_000)
    assert not guard.overdue()


def test_damaged_assignment_file_is_a_permanent_error(store: AssignmentStore) -> None:
    store.path.write_text("{not json")
    with pytest.raises(PermanentError, match="cannot read the held assignment"):
        store.load()


def test_dispatcher_answers_the_gate_refusal_without_running(guard: FenceGuard) -> None:
    guard.take(assignment(3))
    ran: list[str] = []

    def handler(command: agent_pb2.Command) -> agent_pb2.CommandResult:
        ran.append(command.id)
        return agent_pb2.CommandResult(ok=True)

    dispatcher = CommandDispatcher(handlers={"take_snapshot": handler}, gate=guard.admit)
    result = dispatcher.handle(snapshot_at(2, "old"))
    assert result is not None and result.fenced and result.command_id == "old"
    assert dispatcher.handle(snapshot_at(3, "new")) == agent_pb2.CommandResult(
        command_id="new", ok=True
    )
    assert ran == ["new"]


def test_hello_says_when_the_held_assignment_is_fenced(guard: FenceGuard) -> None:
    """The control plane re-assigns a fenced host in place; Hello is how it learns."""
    guard.take(assignment(2, fence_after_ms=60_000))
    stated = guard.hello_assignment()
    assert stated is not None and not stated.fenced
    guard.fence("no control plane for 61 s")
    stated = guard.hello_assignment()
    assert stated is not None and stated.fenced and stated.epoch == 2
    assert guard.take(assignment(3)).ok  # the next epoch lifts it
    stated = guard.hello_assignment()
    assert stated is not None and not stated.fenced
