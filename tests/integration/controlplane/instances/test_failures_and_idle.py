"""Failure outcomes and auto-hibernate: a failed restore leaves the instance hibernated with
its snapshot; an idle report hibernates an instance that asked for it, only that one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.support.accounts import sign_up
from tests.support.controlplane import ScriptedAgent
from tests.support.http import running_api
from tests.support.instances import (
    SPEC,
    PaperProvider,
    Teams,
    accept_assign,
    add_snapshot,
    connect_agent,
    join_paper_host,
    lifecycle_settings,
    next_command,
)
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import InstanceRow
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration


async def test_a_failed_restore_leaves_it_hibernated_with_its_snapshot(teams: Teams) -> None:
    instance = await teams.create()
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == instance["id"])
            .values(state="hibernated", host_id=None, lease_id=None)
        )
    woken = await teams.http.post(
        f"/api/v1/instances/{instance['id']}/wake", headers=teams.member.headers
    )
    assert woken.status_code == 202 and woken.json()["state"] == "waking"
    await teams.api.services.operations.wait(woken.json()["operation"]["id"])
    after = await teams.get(instance["id"])
    assert after["state"] == "hibernated" and after["host_id"] is None
    assert after["latest_snapshot_id"] == "snap-1"
    assert "restoring snapshot snap-1 failed" in after["state_reason"]
    assert teams.paper.released == ["lease-2"]  # the new host went back
    snapshot = await teams.http.get("/api/v1/snapshots/snap-1", headers=teams.owner.headers)
    assert snapshot.status_code == 200 and snapshot.json()["deleted_at"] is None


async def test_an_idle_report_hibernates_an_auto_hibernate_instance(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(tmp_path, database_url, heartbeat_ttl_s=60)
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        joined = await join_paper_host(api, paper)
        agent, channel = await connect_agent(api, joined)
        created = await api.http.post(
            "/api/v1/instances", json={**SPEC, "auto_hibernate": True}, headers=owner.headers
        )
        await accept_assign(agent)
        await api.services.operations.wait(created.json()["operation"]["id"])
        await agent.send(agent_pb2.AgentMessage(idle_report=agent_pb2.IdleReport(idle=True)))
        command = await next_command(agent)
        assert command.WhichOneof("kind") == "hibernate" and command.hibernate.reason == "idle"
        assert not command.hibernate.HasField("grace_s")  # the agent's own grace
        seen = await api.http.get(
            f"/api/v1/instances/{created.json()['id']}", headers=owner.headers
        )
        assert seen.json()["state"] == "hibernating" and seen.json()["state_reason"] == "idle"
        await agent.close()
    await channel.close()


async def test_an_idle_report_leaves_an_instance_without_auto_hibernate(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(tmp_path, database_url, heartbeat_ttl_s=60)
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        created = await api.http.post(
            "/api/v1/instances", json={**SPEC, "auto_hibernate": False}, headers=owner.headers
        )
        await api.services.operations.wait(created.json()["operation"]["id"])
        host_id = created.json()["host_id"] or "h-paper-lease-1"
        await api.services.instances.on_idle_report(host_id, True)
        seen = await api.http.get(
            f"/api/v1/instances/{created.json()['id']}", headers=owner.headers
        )
        assert seen.json()["state"] == "running"


async def test_the_idle_policy_of_a_new_instance_goes_to_its_agent(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(tmp_path, database_url, heartbeat_ttl_s=60)
    settings = settings.model_copy(update={"agent_command_timeout_s": 30})
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        joined = await join_paper_host(api, paper)
        agent, channel = await connect_agent(api, joined)
        policy = {"window_s": 600, "process_allow_list": ["sshd"]}
        created = await api.http.post(
            "/api/v1/instances", json={**SPEC, "idle_policy": policy}, headers=owner.headers
        )
        assign = await accept_assign(agent)
        command = await next_command(agent)
        assert command.epoch == assign.assign.assignment.epoch == 1
        assert command.WhichOneof("kind") == "set_idle_policy"
        sent = command.set_idle_policy.policy
        assert sent.window_s == 600 and list(sent.process_allow_list.names) == ["sshd"]
        assert not sent.HasField("grace_s")
        result = agent_pb2.CommandResult(command_id=command.id, ok=True)
        await agent.send(agent_pb2.AgentMessage(command_result=result))
        await api.services.operations.wait(created.json()["operation"]["id"])
        seen = await api.http.get(
            f"/api/v1/instances/{created.json()['id']}", headers=owner.headers
        )
        assert seen.json()["state"] == "running"
        await agent.close()
        # an agent that comes back (a restart) gets the override again in its Welcome
        again = ScriptedAgent(joined.host_id, joined.credential, channel)
        await again.open()
        welcome = (await again.receive()).welcome
        assert welcome.idle_policy.window_s == 600
        assert list(welcome.idle_policy.process_allow_list.names) == ["sshd"]
        await again.close()
    await channel.close()


async def test_scheduled_snapshots(tmp_path: Path, database_url: str) -> None:
    settings = lifecycle_settings(tmp_path, database_url, heartbeat_ttl_s=60)
    settings = settings.model_copy(update={"snapshot_timeout_s": 30})
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        joined = await join_paper_host(api, paper)
        agent, channel = await connect_agent(api, joined)
        body = {**SPEC, "snapshot_schedule": {"every_s": 3600}}
        created = await api.http.post("/api/v1/instances", json=body, headers=owner.headers)
        await accept_assign(agent)
        await api.services.operations.wait(created.json()["operation"]["id"])
        schedule = api.services.schedule
        assert await schedule.tick() == []  # not due yet
        later = utc_now() + timedelta(hours=1, seconds=1)
        ticking = asyncio.create_task(schedule.tick(later))
        command = await next_command(agent)
        assert command.WhichOneof("kind") == "take_snapshot"
        assert command.take_snapshot.reason == "scheduled"
        result = agent_pb2.CommandResult(command_id=command.id, ok=True, snapshot_id="snap-s1")
        await agent.send(agent_pb2.AgentMessage(command_result=result))
        assert await ticking == [created.json()["id"]]
        snapshot = await api.http.get("/api/v1/snapshots/snap-s1", headers=owner.headers)
        assert snapshot.json()["kind"] == "scheduled"
        assert await schedule.tick() == []  # the new snapshot is fresh
        await agent.close()
    await channel.close()
