"""Pools per team: a team's pool serves and prefetches only that team's instances, a shared
pool every team's but prefetches only encrypted repositories (marked so the agent refuses
anything else), and a claimed standby's placement has the shape of an acquired host's."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests.support.instances import SPEC, Teams
from torpor.controlplane.db.models import InstanceRow, StandbyHostRow
from torpor.controlplane.instances import placements
from torpor.controlplane.providers.base import HostSpec
from torpor.controlplane.warmpool import rows
from torpor.controlplane.warmpool.claiming import PoolClaims
from torpor.controlplane.warmpool.prefetch import _wanted
from torpor.controlplane.warmpool.schemas import PoolRequest

pytestmark = pytest.mark.integration


async def pool(teams: Teams, *, team_id: str | None = None, target: int = 1) -> str:
    request = PoolRequest(
        str(SPEC["gpu_type"]), 1, str(SPEC["region"]), target, 0, team_id, team_id is None
    )
    view, _ = await teams.api.services.warmpool.provision(request)
    await teams.api.services.warmpool.reconciler.tick()
    return view.id


def spec_of(instance: dict[str, Any]) -> HostSpec:
    return HostSpec(str(SPEC["gpu_type"]), 1, str(SPEC["region"]), instance_id=instance["id"])


async def hibernate_with_snapshot(teams: Teams, instance: dict[str, Any], snapshot: str) -> None:
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == instance["id"])
            .values(state="hibernated", host_id=None, lease_id=None, latest_snapshot_id=snapshot)
        )


async def standby_of(teams: Teams, pool_id: str) -> StandbyHostRow:
    async with teams.api.services.sessions() as session:
        (row,) = await rows.standbys(session, pool_id=pool_id, states=("ready",))
        return row


async def test_a_team_pool_is_never_handed_to_another_team(teams: Teams) -> None:
    ours = await teams.create()
    theirs = await teams.create(teams.stranger)
    await pool(teams, team_id=teams.owner.team_id)
    claims = PoolClaims(teams.api.services.sessions, teams.api.services.providers)
    assert await claims.peek(spec_of(theirs)) is None
    assert await claims.claim(spec_of(theirs), request_id="theirs") is None
    taken = await claims.claim(spec_of(ours), request_id="ours")
    assert taken is not None and taken.details["pool"]


async def test_a_shared_pool_serves_every_team_after_the_teams_own(teams: Teams) -> None:
    ours = await teams.create()
    theirs = await teams.create(teams.stranger)
    shared = await pool(teams)
    own = await pool(teams, team_id=teams.owner.team_id)
    claims = PoolClaims(teams.api.services.sessions, teams.api.services.providers)
    mine = await claims.claim(spec_of(ours), request_id="ours")
    assert mine is not None and mine.details["pool"] == own  # its own pool first
    other = await claims.claim(spec_of(theirs), request_id="theirs")
    assert other is not None and other.details["pool"] == shared


async def test_prefetch_holds_only_what_the_standby_may_hold(teams: Teams) -> None:
    ours = await teams.create()
    theirs = await teams.create(teams.stranger)
    plain = await teams.create(teams.stranger)  # made before repository keys, say
    for instance, snapshot in ((ours, "s-ours"), (theirs, "s-theirs"), (plain, "s-plain")):
        await hibernate_with_snapshot(teams, instance, snapshot)
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == plain["id"])
            .values(wrapped_repository_key=None)
        )
    team_pool = await standby_of(teams, await pool(teams, team_id=teams.owner.team_id))
    shared_pool = await standby_of(teams, await pool(teams))
    async with teams.api.services.sessions() as session:
        for_team = await _wanted(session, team_pool)
        for_all = await _wanted(session, shared_pool)
    assert [(w.instance_id, w.shared) for w in for_team] == [(ours["id"], False)]
    assert sorted((w.instance_id, w.shared) for w in for_all) == sorted(
        [(ours["id"], True), (theirs["id"], True)]
    )  # encrypted ones only, and the agent is told to refuse anything else


async def test_a_claimed_standby_has_an_acquired_hosts_placement_shape(teams: Teams) -> None:
    """As `placements.begin` records them (every operation places through it)."""
    acquired, claimed = await teams.create(), await teams.create()
    await pool(teams, team_id=teams.owner.team_id)
    claims = PoolClaims(teams.api.services.sessions, teams.api.services.providers)
    from_pool = await claims.claim(spec_of(claimed), request_id="wake-1")
    assert from_pool is not None
    async with teams.api.services.sessions.begin() as session:
        row = await session.get(InstanceRow, claimed["id"])
        assert row is not None
        await placements.begin(session, row, from_pool)
    placed = await teams.get(claimed["id"])
    assert placed["placement"]["standby"] and placed["placement"]["pool"]
    assert placed["placement"]["workspace"] == "/x"  # the standby host's own, from its acquire
    assert acquired["placement"]["standby"] == acquired["placement"]["pool"] == ""
    assert set(placed["placement"]) == set(acquired["placement"])
