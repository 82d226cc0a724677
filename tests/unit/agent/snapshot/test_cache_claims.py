"""The cache is the assigned instance's before the assignment is taken: an Assign (and a
Welcome stating an assignment) deletes what was cached for every other instance first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from torpor.agent.snapshot.claiming import CacheClaims
from torpor.agent.snapshot.tenancy import TRASH, CacheTenancy
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.unit


def cached_for(tenancy: CacheTenancy, *instances: str) -> None:
    for instance_id in instances:
        entry = tenancy.partition(instance_id) / "chunks" / "ab" / ("ab" * 32)
        entry.parent.mkdir(parents=True)
        entry.write_bytes(instance_id.encode())


def partitions(tenancy: CacheTenancy) -> list[str]:
    return sorted(p.name for p in (tenancy.cache_dir / "instances").iterdir())


def assignment(instance_id: str) -> agent_pb2.Assignment:
    return agent_pb2.Assignment(instance_id=instance_id, epoch=1)


async def test_an_assign_clears_the_cache_before_it_is_taken(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    cached_for(tenancy, "i-x", "i-y")
    seen: list[list[str]] = []

    async def take(command: agent_pb2.Command) -> agent_pb2.CommandResult:
        seen.append(partitions(tenancy))  # what the cache held when it was taken
        return agent_pb2.CommandResult(ok=True)

    claims = CacheClaims(tenancy, take)
    order = agent_pb2.Command(id="a", assign=agent_pb2.Assign(assignment=assignment("i-y")))
    assert (await claims.assign(order)).ok
    assert seen == [["i-y"]] and tenancy.tenant == "i-y"
    assert not (tmp_path / TRASH).exists()


async def test_a_cache_that_cannot_be_cleared_refuses_the_assign(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    cached_for(tenancy, "i-x")
    (tmp_path / TRASH).write_text("not a folder")  # the renames cannot go there

    async def take(command: agent_pb2.Command) -> agent_pb2.CommandResult:
        raise AssertionError("taken although the cache still holds i-x")

    order = agent_pb2.Command(id="a", assign=agent_pb2.Assign(assignment=assignment("i-y")))
    refused = await CacheClaims(tenancy, take).assign(order)
    assert not refused.ok and "was not taken" in refused.error and "retried" in refused.error


async def test_a_welcome_with_an_assignment_clears_the_cache(tmp_path: Path) -> None:
    tenancy = CacheTenancy(tmp_path / "cache")
    cached_for(tenancy, "i-x", "i-y")

    async def take(command: agent_pb2.Command) -> agent_pb2.CommandResult:
        return agent_pb2.CommandResult(ok=True)

    claims = CacheClaims(tenancy, take)
    claims.on_welcome(agent_pb2.Welcome(host_id="h"))  # a standby's: nothing happens
    assert partitions(tenancy) == ["i-x", "i-y"]
    claims.on_welcome(agent_pb2.Welcome(host_id="h", assignment=assignment("i-x")))
    assert partitions(tenancy) == ["i-x"]  # moved out at once
    for _ in range(100):  # and deleted in the background
        if not (tmp_path / TRASH).exists():
            break
        await asyncio.sleep(0.02)
    assert not (tmp_path / TRASH).exists()
