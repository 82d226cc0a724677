"""Instances for tests: a provider that places nothing real, and signed-up teams.

`PaperProvider` stands in for a cloud API (the one thing tests may fake): it records what
it was asked and answers with a placement on a host id no agent ever connects to, so an
instance goes `running` while agent commands to it time out (hibernate fails, as designed).
The end-to-end test uses the real local provider instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.support.accounts import Account, sign_up
from tests.support.controlplane import ScriptedAgent, fast_settings, join
from tests.support.http import ApiClient, running_api
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import InstanceRow, MembershipRow, UserRow
from torpor.controlplane.errors import Unavailable
from torpor.controlplane.instances.agents import Taken
from torpor.controlplane.instances.snapshots import record
from torpor.controlplane.providers.base import HostSpec, Lease, Offer
from torpor.controlplane.services import Services
from torpor.controlplane.settings import Settings
from torpor.proto.v1 import agent_pb2

H100 = Offer("paper", "H100", 1, "paper-1", 250, available=None)
SPEC = {"gpu_type": "H100", "gpu_count": 1, "region": "paper-1"}


@dataclass
class PaperProvider:
    name: str = "paper"
    confirms_release: bool = False
    """Like an operator's own machines: hosts get the self-fence bound (tests of fencing
    set it True to play a cloud whose terminate is final)."""
    acquired: dict[str, Lease] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    """Leases released with `lost=True` (killed outright: a host declared lost)."""
    forgotten: list[str] = field(default_factory=list)
    repositories_deleted: list[str] = field(default_factory=list)
    refuse: bool = False
    host_id: str | None = None
    """The host every placement names (a test's scripted agent); None: one per lease."""

    async def offers(self) -> list[Offer]:
        return [H100]

    async def acquire(self, spec: HostSpec, *, request_id: str) -> Lease:
        if self.refuse:
            raise Unavailable("no paper host can be had now")
        if request_id not in self.acquired:
            lease = f"lease-{len(self.acquired) + 1}"
            self.acquired[request_id] = Lease(
                "paper", lease, self.host_id or f"h-paper-{lease}", H100, {"workspace": "/x"}
            )
        return self.acquired[request_id]

    async def release(self, lease_id: str, *, lost: bool = False) -> None:
        self.released.append(lease_id)
        if lost:
            self.killed.append(lease_id)

    async def forget_snapshots(self, instance_id: str, snapshot_ids: list[str]) -> None:
        self.forgotten.extend(snapshot_ids)

    async def delete_repository(self, instance_id: str) -> None:
        self.repositories_deleted.append(instance_id)

    async def close(self) -> None:
        return None


@dataclass
class Teams:
    """An API with the paper provider, and people: `owner` and `member` share a team,
    `billing` is its billing admin, `stranger` owns another team."""

    api: ApiClient
    paper: PaperProvider
    owner: Account
    member: Account
    billing: Account
    stranger: Account

    @property
    def http(self) -> httpx.AsyncClient:
        return self.api.http

    async def create(self, who: Account | None = None, **body: Any) -> dict[str, Any]:
        """A running instance of `who` (the owner by default)."""
        response = await self.http.post(
            "/api/v1/instances", json={**SPEC, **body}, headers=(who or self.owner).headers
        )
        assert response.status_code == 202, response.text
        ident = response.json()["id"]
        await self.api.services.operations.wait(response.json()["operation"]["id"])
        return await self.get(ident, who)

    async def get(self, ident: str, who: Account | None = None) -> dict[str, Any]:
        response = await self.http.get(
            f"/api/v1/instances/{ident}", headers=(who or self.owner).headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def lifecycle_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "hibernate_timeout_s": 0.5,
        "restore_timeout_s": 0.5,
        "snapshot_timeout_s": 0.5,
        "agent_command_timeout_s": 0.5,
    }
    return fast_settings(tmp_path, database_url, **(values | overrides))


@pytest.fixture
async def teams(tmp_path: Path, database_url: str) -> AsyncIterator[Teams]:
    async with running_api(lifecycle_settings(tmp_path, database_url)) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        owner = await sign_up(api.http)
        member, billing = await sign_up(api.http), await sign_up(api.http)
        await join_team(api.services, member, owner.team_id, "member")
        await join_team(api.services, billing, owner.team_id, "billing_admin")
        yield Teams(api, paper, owner, member, billing, await sign_up(api.http))


async def join_team(services: Services, account: Account, team_id: str, role: str) -> None:
    """`account` becomes `role` in `team_id`, now its current team (what accepting an
    invitation and switching team do, written straight to the database)."""
    async with services.sessions.begin() as session:
        session.add(
            MembershipRow(team_id=team_id, user_id=account.user_id, role=role, joined_at=utc_now())
        )
        user = await session.get(UserRow, account.user_id)
        assert user is not None
        user.current_team_id = team_id
    account.team_id = team_id


async def add_snapshot(
    services: Services, instance_id: str, snapshot_id: str, *, keep_forever: bool = False
) -> None:
    """A snapshot record as a hibernate would leave it (the paper host takes none)."""
    async with services.sessions.begin() as session:
        instance = await session.get(InstanceRow, instance_id)
        assert instance is not None
        record(session, instance, Taken(snapshot_id, 1024, 3), "manual", keep_forever)


async def join_paper_host(api: ApiClient, paper: PaperProvider) -> ScriptedAgent:
    """A scripted agent joined over `api`'s gRPC port, and made the host `paper` places on."""
    token = await api.services.join_tokens.create(60)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{api.control_plane.grpc_port}") as channel:
        joined = await join(channel, token)
    paper.host_id = joined.host_id
    return joined


async def connect_agent(
    api: ApiClient, agent: ScriptedAgent
) -> tuple[ScriptedAgent, grpc.aio.Channel]:
    """`agent` (joined earlier) connected to `api`'s gRPC port, past the Welcome."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{api.control_plane.grpc_port}")
    connected = ScriptedAgent(agent.host_id, agent.credential, channel)
    await connected.open()
    assert (await connected.receive()).HasField("welcome")
    return connected, channel


async def next_command(agent: ScriptedAgent) -> agent_pb2.Command:
    """The next command down the stream (heartbeat policy updates skipped)."""
    while not (message := await asyncio.wait_for(agent.receive(), 30)).HasField("command"):
        pass
    return message.command


async def accept_assign(agent: ScriptedAgent) -> agent_pb2.Command:
    """Answers ok to the Assign every new placement starts with; returns it."""
    command = await next_command(agent)
    assert command.WhichOneof("kind") == "assign", command
    result = agent_pb2.CommandResult(command_id=command.id, ok=True)
    await agent.send(agent_pb2.AgentMessage(command_result=result))
    return command
