"""A control plane stopped in the middle of a hibernate: the next one, on the same database,
resumes it from the journal (the same command id, so the agent does not snapshot twice)
and the instance ends hibernated with its snapshot recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.accounts import sign_up
from tests.support.http import running_api
from tests.support.instances import (
    SPEC,
    PaperProvider,
    accept_assign,
    connect_agent,
    join_paper_host,
    lifecycle_settings,
    next_command,
)
from torpor.proto.v1 import agent_pb2

pytestmark = pytest.mark.integration


async def test_a_hibernate_interrupted_by_a_restart_is_resumed(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(
        tmp_path, database_url, hibernate_timeout_s=60, heartbeat_ttl_s=60, heartbeat_grace_s=60
    )
    paper = PaperProvider()
    async with running_api(settings) as api:
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        joined = await join_paper_host(api, paper)
        agent, channel = await connect_agent(api, joined)
        created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
        ident = created.json()["id"]
        await accept_assign(agent)
        await api.services.operations.wait(created.json()["operation"]["id"])
        started = await api.http.post(f"/api/v1/instances/{ident}/hibernate", headers=owner.headers)
        assert started.status_code == 202
        first = await next_command(agent)
        assert first.WhichOneof("kind") == "take_snapshot"
        await agent.close()
        # the control plane stops here, the agent still snapshotting
    await channel.close()

    async with running_api(settings) as api:
        api.services.providers.register(paper)
        seen = await api.http.get(f"/api/v1/instances/{ident}", headers=owner.headers)
        assert seen.json()["state"] == "hibernating"
        assert seen.json()["operation"]["step"] == "snapshot"
        agent, channel = await connect_agent(api, joined)
        again = await next_command(agent)
        assert again.id == first.id and again.WhichOneof("kind") == "take_snapshot"
        await agent.send(
            agent_pb2.AgentMessage(
                command_result=agent_pb2.CommandResult(
                    command_id=again.id, ok=True, snapshot_id="snap-final", outputs={"files": "3"}
                )
            )
        )
        await api.services.operations.wait(seen.json()["operation"]["id"])
        after = (await api.http.get(f"/api/v1/instances/{ident}", headers=owner.headers)).json()
        assert after["state"] == "hibernated" and after["host_id"] is None
        assert after["latest_snapshot_id"] == "snap-final"
        assert paper.released == ["lease-1"]
        snapshot = await api.http.get("/api/v1/snapshots/snap-final", headers=owner.headers)
        assert snapshot.json()["kind"] == "final" and snapshot.json()["files"] == 3
        await agent.close()
    await channel.close()
