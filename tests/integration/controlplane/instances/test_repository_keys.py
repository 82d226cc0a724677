"""Repository keys on both databases, with scripted agents on real gRPC streams: a new
instance's secret is stored only sealed, and reaches exactly the host placed for it — in
Assign, in the Welcome that re-states it, in the wake's Restore, in a standby's Prefetch —
and nowhere else (HTTP, AdminService, events, the journal, logs). An instance made before
repository keys gets none; a master key that does not open a stored key fails the wake,
and the next start, with one line."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToJson
from sqlalchemy import select, update

from tests.support.accounts import Account, sign_up
from tests.support.controlplane import ScriptedAgent, bearer
from tests.support.http import ApiClient, running_api
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
from torpor.controlplane.db.models import EventRow, InstanceRow, OperationRow
from torpor.controlplane.repository_keys.keyring import RepositoryKeyring
from torpor.controlplane.repository_keys.master_key import MASTER_KEY_FILE, MasterKeyError
from torpor.controlplane.repository_keys.secret import RepositoryKey
from torpor.controlplane.repository_keys.wrapping import WRAPPED_BYTES
from torpor.controlplane.services import open_services
from torpor.controlplane.settings import Settings
from torpor.controlplane.warmpool.schemas import PoolRequest
from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, agent_pb2

pytestmark = pytest.mark.integration


@dataclass
class Placed:
    """A control plane with one scripted host that the paper provider places on."""

    api: ApiClient
    owner: Account
    agent: ScriptedAgent
    channel: grpc.aio.Channel

    async def post(self, path: str, **body: Any) -> dict[str, Any]:
        response = await self.api.http.post(path, json=body or None, headers=self.owner.headers)
        assert response.status_code in (200, 202), response.text
        return dict(response.json())

    async def wait(self, answered: dict[str, Any]) -> None:
        await self.api.services.operations.wait(answered["operation"]["id"])

    async def key_of(self, instance_id: str) -> tuple[bytes, RepositoryKey]:
        async with self.api.services.sessions() as session:
            row = await session.get(InstanceRow, instance_id)
        assert row is not None and row.wrapped_repository_key is not None
        key = self.api.services.repository_keys.open(instance_id, row.wrapped_repository_key)
        assert key is not None
        return row.wrapped_repository_key, key


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    """The scripted host stays connected (60 s ttl); its answers have 30 s."""
    return lifecycle_settings(
        tmp_path,
        database_url,
        heartbeat_ttl_s=60,
        hibernate_timeout_s=30,
        restore_timeout_s=30,
        agent_command_timeout_s=30,
    )


@pytest.fixture
async def placed(tmp_path: Path, database_url: str) -> AsyncIterator[Placed]:
    async with running_api(settings_for(tmp_path, database_url)) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        agent, channel = await connect_agent(api, await join_paper_host(api, paper))
        built = Placed(api, owner, agent, channel)
        yield built
        await built.agent.close()
    await channel.close()


async def answer(agent: ScriptedAgent, command: agent_pb2.Command, **fields: Any) -> None:
    result = agent_pb2.CommandResult(command_id=command.id, ok=True, **fields)
    await agent.send(agent_pb2.AgentMessage(command_result=result))


async def welcome_of(placed: Placed) -> agent_pb2.Welcome:
    """The Welcome the scripted host gets when it connects again (a restarted agent); its
    new stream replaces the old one as `placed.agent`."""
    again = ScriptedAgent(placed.agent.host_id, placed.agent.credential, placed.channel)
    await again.open()
    welcome = (await again.receive()).welcome
    placed.agent = again
    return welcome


async def test_a_new_instance_has_a_sealed_key_that_its_assign_carries(placed: Placed) -> None:
    created = await placed.post("/api/v1/instances", **SPEC)
    assign = await accept_assign(placed.agent)
    await placed.wait(created)
    wrapped, key = await placed.key_of(created["id"])
    assert len(wrapped) == WRAPPED_BYTES and key.reveal() not in wrapped
    sent = assign.assign.assignment
    assert sent.instance_id == created["id"] and len(sent.repository_key) == 32
    assert sent.repository_key == key.reveal()
    restated = (await welcome_of(placed)).assignment
    assert restated.instance_id == created["id"] and restated.repository_key == key.reveal()
    other = await placed.post("/api/v1/instances", **SPEC)
    await accept_assign(placed.agent)
    await placed.wait(other)
    assert (await placed.key_of(other["id"]))[1].reveal() != key.reveal()  # one per instance


async def test_an_instance_made_before_repository_keys_gets_none(placed: Placed) -> None:
    created = await placed.post("/api/v1/instances", **SPEC)
    await accept_assign(placed.agent)
    await placed.wait(created)
    async with placed.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == created["id"])
            .values(wrapped_repository_key=None)
        )
    restated = (await welcome_of(placed)).assignment
    assert restated.instance_id == created["id"] and restated.repository_key == b""


def spellings(secret: bytes) -> list[str]:
    """How a secret could show up in text: hex, base64 (JSON bytes), a Python repr."""
    return [
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    ]


async def everything_shown(placed: Placed, instance_id: str, admin_token: str) -> str:
    """The instance through every window: HTTP routes, AdminService, the stored events and
    the journal, as one text."""
    http = placed.api.http
    shown = [
        (await http.get(path, headers=placed.owner.headers)).text
        for path in (
            f"/api/v1/instances/{instance_id}",
            "/api/v1/instances",
            f"/api/v1/instances/{instance_id}/events",
            f"/api/v1/instances/{instance_id}/snapshots",
        )
    ]
    stub = admin_pb2_grpc.AdminServiceStub(placed.channel)
    for reply in (
        await stub.GetInstance(
            admin_pb2.GetInstanceRequest(id=instance_id), metadata=bearer(admin_token)
        ),
        await stub.ListInstances(admin_pb2.ListInstancesRequest(), metadata=bearer(admin_token)),
    ):
        shown.append(MessageToJson(reply))
    async with placed.api.services.sessions() as session:
        for model in (EventRow, OperationRow, InstanceRow):
            for row in await session.scalars(select(model)):
                columns = {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}
                columns.pop("wrapped_repository_key", None)  # the one place it may be, sealed
                shown.append(json.dumps(columns, default=repr))
    return "\n".join(shown)


async def test_no_window_shows_the_key_through_create_hibernate_wake(
    placed: Placed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="torpor")
    created = await placed.post("/api/v1/instances", **SPEC)
    await accept_assign(placed.agent)
    await placed.wait(created)
    wrapped, key = await placed.key_of(created["id"])

    hibernating = await placed.post(f"/api/v1/instances/{created['id']}/hibernate")
    final = await next_command(placed.agent)
    assert final.WhichOneof("kind") == "take_snapshot"
    await answer(placed.agent, final, snapshot_id="snap-final")
    await placed.wait(hibernating)
    await welcome_of(placed)  # hibernate released the host (its stream closed); paper re-places it

    waking = await placed.post(f"/api/v1/instances/{created['id']}/wake")
    assign = await accept_assign(placed.agent)
    restore = await next_command(placed.agent)
    assert restore.WhichOneof("kind") == "restore" and restore.restore.snapshot_id == "snap-final"
    assert restore.restore.repository_key == key.reveal() == assign.assign.assignment.repository_key
    await answer(placed.agent, restore)
    await placed.wait(waking)
    assert (await placed.key_of(created["id"]))[1].reveal() == key.reveal()  # the same, woken

    token = await placed.api.services.admin_tokens.create("ops")
    shown = await everything_shown(placed, created["id"], token)
    assert created["id"] in shown and "snap-final" in shown  # the windows were looked through
    for spelling in spellings(key.reveal()) + spellings(wrapped):
        assert spelling not in shown
        assert spelling not in caplog.text


async def test_a_standby_prefetches_with_the_instances_key(teams: Teams) -> None:
    instance = await teams.create()
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == instance["id"])
            .values(state="hibernated", host_id=None, lease_id=None)
        )
        row = await session.get(InstanceRow, instance["id"])
        assert row is not None
        key = teams.api.services.repository_keys.open(row.id, row.wrapped_repository_key)
    assert key is not None
    agent, channel = await connect_agent(teams.api, await join_paper_host(teams.api, teams.paper))
    warm = teams.api.services.warmpool
    await warm.provision(PoolRequest(str(SPEC["gpu_type"]), 1, str(SPEC["region"]), 1, 0))
    await warm.reconciler.tick()
    teams.paper.host_id = None
    prefetch = await next_command(agent)
    assert list(prefetch.prefetch.snapshot_ids) == ["snap-1"]
    assert prefetch.prefetch.repository_key == key.reveal()
    await answer(agent, prefetch)
    await warm.reconciler.prefetcher.wait()
    await agent.close()
    await channel.close()


async def test_a_key_sealed_by_another_master_key_fails_the_wake_in_one_line(
    teams: Teams,
) -> None:
    instance = await teams.create()
    await add_snapshot(teams.api.services, instance["id"], "snap-1")
    foreign = RepositoryKeyring.ephemeral().new_wrapped(instance["id"])
    async with teams.api.services.sessions.begin() as session:
        await session.execute(
            update(InstanceRow)
            .where(InstanceRow.id == instance["id"])
            .values(state="hibernated", host_id=None, lease_id=None, wrapped_repository_key=foreign)
        )
    woken = await teams.http.post(
        f"/api/v1/instances/{instance['id']}/wake", headers=teams.owner.headers
    )
    await teams.api.services.operations.wait(woken.json()["operation"]["id"])
    after = await teams.get(instance["id"])
    assert after["state"] == "hibernated" and after["latest_snapshot_id"] == "snap-1"
    master_key = str(teams.api.services.repository_keys.master_key_path)
    reason = after["state_reason"]
    assert instance["id"] in reason and master_key in reason and "\n" not in reason
    assert teams.paper.released[-1] == "lease-2"  # the new host went back
    events = await teams.api.services.events.after(0, None, 500, instance_id=instance["id"])
    assert any(e.kind == "instance.wake_failed" and master_key in e.message for e in events)


async def test_a_start_with_another_master_key_is_refused_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url)
    async with running_api(settings) as api:
        api.services.providers.register(PaperProvider())
        owner = await sign_up(api.http)
        created = await api.http.post("/api/v1/instances", json=SPEC, headers=owner.headers)
        await api.services.operations.wait(created.json()["operation"]["id"])
    path = tmp_path / MASTER_KEY_FILE
    path.write_bytes(bytes(32))  # a different key file (its mode stays 0600)
    with pytest.raises(MasterKeyError) as caught:
        async with open_services(settings):
            pass
    message = caught.value.message
    assert created.json()["id"] in message and str(path) in message and "\n" not in message
