"""InFlight.shielded: work a cancelled handler leaves behind is still drained.

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
