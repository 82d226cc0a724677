"""InFlight: work a cancelled handler leaves behind is still drained, and drain is bounded.

A stream handler cancelled by the gRPC server's stop used to leave its shielded
"record the disconnect" write untracked; shutdown then disposed of the engine under it and
the loop's teardown could hang on SQLite.
"""

from __future__ import annotations

import asyncio

import pytest

from torpor.controlplane.grpc.context import InFlight

pytestmark = pytest.mark.unit


async def test_drain_waits_for_shielded_work_whose_handler_was_cancelled() -> None:
    inflight = InFlight()
    finished: list[str] = []

    async def write() -> str:
        await asyncio.sleep(0.2)
        finished.append("written")
        return "ok"

    async def handler() -> None:
        with inflight.track():
            await inflight.shielded(write())

    task = asyncio.create_task(handler())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == []
    await inflight.drain(5)
    assert finished == ["written"]


async def test_shielded_returns_the_result() -> None:
    async def answer() -> int:
        return 42

    assert await InFlight().shielded(answer()) == 42


async def test_a_spawned_task_is_drained_and_one_past_the_grace_is_cancelled() -> None:
    inflight = InFlight()
    ended: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.05)
        ended.append("quick")

    async def endless() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ended.append("endless cancelled")
            raise

    quick_task = inflight.spawn(quick(), "quick")
    endless_task = inflight.spawn(endless(), "endless")
    await inflight.drain(0.3)
    assert quick_task.done() and endless_task.cancelled()
    assert ended == ["quick", "endless cancelled"]


async def test_drain_names_a_task_that_ignores_its_cancel(caplog: pytest.LogCaptureFixture) -> None:
    inflight = InFlight()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = inflight.spawn(stubborn(), "stubborn")
    await inflight.drain(0.1)
    assert not task.done()
    assert "task stubborn did not end" in caplog.text
    release.set()
    await task
