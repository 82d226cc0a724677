"""PendingCommands.wait: a cancelled waiter stays cancelled, whatever the future does.

Regression: on Python 3.11 `asyncio.wait_for` returned (or raised) the future's outcome when
the cancel arrived in the same loop pass as the outcome. A control plane stopping just as a
host dropped then lost the cancel: the hibernate kept resending for its whole timeout and
ended `running` instead of resuming after the restart.
"""

from __future__ import annotations

import asyncio

import pytest

from torpor.controlplane.errors import DeadlineExceeded, Unavailable
from torpor.controlplane.fleet.pending import PendingCommands
from torpor.controlplane.fleet.schemas import CommandResult

pytestmark = pytest.mark.unit


async def _waiting(pending: PendingCommands) -> tuple[asyncio.Task[CommandResult], str]:
    future = pending.expect("h-1", "c-1")
    task = asyncio.create_task(pending.wait("c-1", future, 30))
    await asyncio.sleep(0)  # the task is now awaiting the future
    return task, "c-1"


async def test_a_cancel_that_meets_a_host_failure_still_cancels() -> None:
    pending = PendingCommands()
    task, _ = await _waiting(pending)
    pending.fail_host("h-1", Unavailable("host h-1 dropped its stream"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancel_that_meets_a_result_still_cancels() -> None:
    pending = PendingCommands()
    task, ident = await _waiting(pending)
    pending.resolve("h-1", CommandResult(command_id=ident, ok=True))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_result_is_returned_and_a_silence_times_out() -> None:
    pending = PendingCommands()
    task, ident = await _waiting(pending)
    pending.resolve("h-1", CommandResult(command_id=ident, ok=True))
    assert (await task).ok
    future = pending.expect("h-1", "c-2")
    with pytest.raises(DeadlineExceeded, match="c-2"):
        await pending.wait("c-2", future, 0.05)


async def test_one_waiters_cancel_leaves_the_other_waiting() -> None:
    pending = PendingCommands()
    first, ident = await _waiting(pending)
    second = asyncio.create_task(pending.wait(ident, pending.expect("h-1", ident), 30))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    pending.resolve("h-1", CommandResult(command_id=ident, ok=True))
    assert (await second).ok
