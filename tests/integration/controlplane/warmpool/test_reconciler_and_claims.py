"""The warm-pool reconciler keeps each pool at its target with a (mocked-cloud) paper
provider, never leaks a host across a crash, and claims hand out one standby once, never
the avoided host; a wake takes a standby instead of a new host."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.support.instances import (
    SPEC,
    PaperProvider,
    Teams,
    accept_assign,
    add_snapshot,
    connect_agent,
    join_paper_host,
    next_command,
)
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import InstanceRow, PlacementRow, StandbyHostRow
from torpor.controlplane.providers.base import HostSpec
from torpor.controlplane.services import Services
from torpor.controlplane.warmpool import rows
from torpor.controlplane.warmpool.claiming import PoolClaims
from torpor.controlplane.warmpool.cost import standby_intervals
from torpor.controlplane.warmpool.schemas import PoolRequest, StandbyInterval
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration
H100 = HostSpec("H100", 1, "paper-1", instance_id="i-x")


async def provision(services: Services, target: int, max_idle_s: int = 0) -> str:
    view, _ = await services.warmpool.provision(
        PoolRequest("H100", 1, "paper-1", target, max_idle_s)
    )
    return view.id


async def states(services: Services) -> list[str]:
    async with services.sessions() as session:
        return sorted(await session.scalars(select(StandbyHostRow.state)))


async def test_a_pool_is_filled_then_shrunk_then_emptied_when_disabled(
    services: Services, paper: PaperProvider
) -> None:
    pool_id = await provision(services, 2)
    report = await services.warmpool.reconciler.tick()
    assert len(report.acquired) == 2 and len(paper.acquired) == 2
    await services.warmpool.reconciler.tick()
    assert len(paper.acquired) == 2  # at target: nothing more
    await provision(services, 1)
    await services.warmpool.reconciler.tick()
    assert paper.released == ["lease-1"]  # the oldest went
    assert await states(services) == ["ready", "released"]
    await services.warmpool.set_enabled(pool_id, False)
    await services.warmpool.reconciler.tick()
    assert paper.released == ["lease-1", "lease-2"]
    status = await services.warmpool.status(pool_id)
    assert (status.ready, status.acquiring, status.pool.enabled) == (0, 0, False)


async def test_a_standby_idle_too_long_is_replaced(
    services: Services, paper: PaperProvider
) -> None:
    await provision(services, 1, max_idle_s=60)
    await services.warmpool.reconciler.tick()
    await services.warmpool.reconciler.tick(utc_now() + timedelta(seconds=61))
    assert paper.released == ["lease-1"] and len(paper.acquired) == 2
    assert await states(services) == ["ready", "released"]


async def test_a_crash_between_journal_and_acquire_leaks_no_host(
    services: Services, paper: PaperProvider
) -> None:
    await provision(services, 1)
    await services.warmpool.reconciler.plan(utc_now())  # journalled, then the "crash"
    async with services.sessions() as session:
        row = (await session.scalars(select(StandbyHostRow))).one()
    assert row.state == "acquiring" and not paper.acquired
    # the provider even got the request before the crash: the retry asks for the same host
    await paper.acquire(HostSpec("H100", 1, "paper-1"), request_id=row.id)
    await services.warmpool.reconciler.tick()
    assert len(paper.acquired) == 1 and await states(services) == ["ready"]


async def test_two_concurrent_claims_never_get_the_same_host(
    services: Services, paper: PaperProvider
) -> None:
    await provision(services, 1)
    await services.warmpool.reconciler.tick()
    claims = PoolClaims(services.sessions, services.providers)
    got = await asyncio.gather(*(claims.claim(H100, request_id=f"r{i}") for i in range(4)))
    placed = [p for p in got if p is not None]
    assert len(placed) == 1 and placed[0].lease_id == "lease-1"
    again = await claims.claim(H100, request_id=f"r{got.index(placed[0])}")
    assert again is not None and again.host_id == placed[0].host_id  # idempotent


async def test_a_standby_claimed_after_it_was_read_is_never_marked_releasing(
    services: Services, paper: PaperProvider
) -> None:
    """The pass read the standby as ready, a claim committed, then the pass marks it: the
    claim stands and its host is not released under the restoring instance."""
    pool_id = await provision(services, 1)
    await services.warmpool.reconciler.tick()
    async with services.sessions() as session:
        (stale,) = await rows.standbys(session, pool_id=pool_id, states=("ready",))
    claims = PoolClaims(services.sessions, services.providers)
    assert await claims.claim(H100, request_id="r") is not None
    async with services.sessions.begin() as session:
        assert not await rows.mark_releasing(session, stale)
    await services.warmpool.reconciler.tick()
    assert await states(services) == ["claimed", "ready"]  # kept, and replaced in the pool
    assert not paper.released


async def test_a_ready_standby_is_marked_releasing(
    services: Services, paper: PaperProvider
) -> None:
    pool_id = await provision(services, 1)
    await services.warmpool.reconciler.tick()
    async with services.sessions.begin() as session:
        (row,) = await rows.standbys(session, pool_id=pool_id, states=("ready",))
        assert await rows.mark_releasing(session, row) and row.state == "releasing"
    assert await states(services) == ["releasing"]


async def test_a_claim_never_takes_the_avoided_host_or_another_region(
    services: Services, paper: PaperProvider
) -> None:
    await provision(services, 1)
    await services.warmpool.reconciler.tick()
    claims = PoolClaims(services.sessions, services.providers)
    host = paper.acquired[next(iter(paper.acquired))].host_id
    assert await claims.claim(H100, request_id="a", avoid_host_id=host) is None
    elsewhere = HostSpec("H100", 1, "paper-2", instance_id="i-x")
    assert await claims.claim(elsewhere, request_id="b") is None
    taken = await claims.claim(elsewhere, request_id="c", any_region=True)
    assert taken is not None and taken.host_id == host


async def test_standby_intervals_give_the_cost(services: Services, paper: PaperProvider) -> None:
    pool_id = await provision(services, 1)
    await services.warmpool.reconciler.tick()
    later = utc_now() + timedelta(hours=2)
    intervals = await _intervals(services, later)
    assert [(i.pool_id, i.gpu_type, i.region, i.price_per_hour_cents) for i in intervals] == [
        (pool_id, "H100", "paper-1", 250)
    ]
    assert abs(intervals[0].cost_cents - 500) < 1  # two hours at 250 cents
    status = await services.warmpool.status(pool_id, now=later)
    assert status.ready == 1 and abs(status.cost_cents - 500) < 1


async def _intervals(services: Services, until: datetime) -> list[StandbyInterval]:
    async with services.sessions() as session:
        return await standby_intervals(session, utc_now() - timedelta(hours=1), until)


async def test_a_wake_takes_a_ready_standby_instead_of_a_new_host(teams: Teams) -> None:
    instance = await teams.create()  # on lease-1
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == instance["id"])
            .values(state="hibernated", host_id=None, lease_id=None)
        )
    joined = await join_paper_host(teams.api, teams.paper)
    agent, channel = await connect_agent(teams.api, joined)
    warm = teams.api.services.warmpool
    assert warm is not None
    await warm.provision(PoolRequest(SPEC["gpu_type"], 1, SPEC["region"], 1, 0))  # type: ignore[arg-type]
    await warm.reconciler.tick()
    teams.paper.host_id = None  # replacements land on hosts of their own
    prefetch = await next_command(agent)  # the standby is told to cache snap-1
    assert list(prefetch.prefetch.snapshot_ids) == ["snap-1"]
    await agent.send(_ok(prefetch.id))
    await warm.reconciler.prefetcher.wait()

    woken = await teams.http.post(
        f"/api/v1/instances/{instance['id']}/wake", headers=teams.owner.headers
    )
    assign = await accept_assign(agent)  # the standby learns it now serves the instance
    assert assign.assign.assignment.instance_id == instance["id"]
    restore = await next_command(agent)
    assert restore.restore.snapshot_id == "snap-1"
    assert restore.epoch == assign.assign.assignment.epoch
    await agent.send(_ok(restore.id))
    await teams.api.services.operations.wait(woken.json()["operation"]["id"])
    after = await teams.get(instance["id"])
    assert after["state"] == "running" and after["host_id"] == joined.host_id
    assert woken.json()["operation"]["id"] not in teams.paper.acquired  # no new host
    hosts = await warm.hosts()
    assert all(h.host_id != joined.host_id for h in hosts)  # it left the pool
    async with teams.api.services.sessions() as session:
        chosen = await session.scalars(
            select(PlacementRow.chosen_by).where(PlacementRow.instance_id == instance["id"])
        )
        assert "standby_same_region" in list(chosen)
    events = await teams.api.services.events.after(0, None, 500, instance_id=instance["id"])
    claimed = [e for e in events if e.kind == "warmpool.claimed"]
    assert len(claimed) == 1 and claimed[0].host_id == joined.host_id
    assert claimed[0].attributes["purpose"] == "wake"
    await agent.close()
    await channel.close()


def _ok(command_id: str) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(
        command_result=agent_pb2.CommandResult(command_id=command_id, ok=True)
    )
