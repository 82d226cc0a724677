"""Mutual TLS on the gRPC port, over real sockets: who may call what (docs/tls.md).

A certificate the server cannot verify (none, another CA's, an expired one) fails the
handshake, so the caller sees UNAVAILABLE before any RPC runs; a verified certificate that
names the wrong machine or role is refused with PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from tests.support.certs import Issued, TestCA
from tests.support.controlplane import ScriptedAgent, bearer, fast_settings, join
from torpor.controlplane.runtime import ControlPlane
from torpor.controlplane.settings import Settings
from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc

pytestmark = pytest.mark.integration
OpenChannel = Callable[[Issued | None], grpc.aio.Channel]


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, ca: TestCA) -> Settings:
    cert, key = ca.server().write(tmp_path, "server")
    (tmp_path / "clients.pem").write_bytes(ca.pem)
    return fast_settings(
        tmp_path,
        database_url,
        grpc_tls_cert=cert,
        grpc_tls_key=key,
        grpc_tls_client_ca=tmp_path / "clients.pem",
    )


@pytest.fixture
async def channel_to(control_plane: ControlPlane, ca: TestCA) -> AsyncIterator[OpenChannel]:
    """Opens channels presenting a given certificate (or none), closed after the test."""
    opened: list[grpc.aio.Channel] = []

    def open_channel(identity: Issued | None) -> grpc.aio.Channel:
        credentials = grpc.ssl_channel_credentials(
            ca.pem,
            identity.key if identity else None,
            identity.cert if identity else None,
        )
        channel = grpc.aio.secure_channel(f"localhost:{control_plane.grpc_port}", credentials)
        opened.append(channel)
        return channel

    yield open_channel
    for channel in opened:
        await channel.close()


@pytest.fixture
async def tokens(control_plane: ControlPlane) -> AsyncIterator[tuple[str, str]]:
    """(join token, admin token)."""
    services = control_plane.services
    yield await services.join_tokens.create(60), await services.admin_tokens.create("ops")


async def _list_hosts(channel: grpc.aio.Channel, admin_token: str) -> admin_pb2.ListHostsResponse:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    return await stub.ListHosts(
        admin_pb2.ListHostsRequest(), metadata=bearer(admin_token), timeout=5
    )


async def _joined(channel: grpc.aio.Channel, token: str) -> ScriptedAgent:
    agent = await join(channel, token)  # hostname "gpu-test"
    await agent.open()
    assert (await agent.receive()).WhichOneof("payload") == "welcome"
    return agent


def _code(error: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> grpc.StatusCode:
    return error.value.code()


async def test_a_host_certificate_joins_and_streams_and_an_operator_one_administers(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    join_token, admin_token = tokens
    agent = await _joined(channel_to(ca.host("gpu-test")), join_token)
    listed = await _list_hosts(channel_to(ca.operator("alice")), admin_token)
    assert [h.id for h in listed.hosts] == [agent.host_id]
    await agent.close()


@pytest.mark.parametrize("identity", ["none", "other CA", "expired"])
async def test_an_unverifiable_client_certificate_fails_the_handshake(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA, identity: str
) -> None:
    presented = {
        "none": None,
        "other CA": TestCA("someone else").operator("alice"),
        "expired": ca.issue("alice", uris=("torpor-operator:alice",), expired=True),
    }[identity]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_hosts(channel_to(presented), tokens[1])
    assert _code(refused) == grpc.StatusCode.UNAVAILABLE


async def test_an_agent_certificate_cannot_call_admin_rpcs(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    channel = channel_to(ca.host("gpu-test"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_hosts(channel, tokens[1])  # even with a valid admin token
    assert _code(refused) == grpc.StatusCode.PERMISSION_DENIED
    assert "operator certificate" in (refused.value.details() or "")
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as streaming:
        async for _ in stub.WatchEvents(admin_pb2.WatchEventsRequest(), metadata=bearer(tokens[1])):
            pass
    assert _code(streaming) == grpc.StatusCode.PERMISSION_DENIED


async def test_agent_a_certificate_cannot_stream_as_host_b(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    host_b = await _joined(channel_to(ca.host("gpu-test")), tokens[0])
    as_a = ScriptedAgent(host_b.host_id, host_b.credential, channel_to(ca.host("gpu-a")))
    await as_a.open()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await as_a.receive()
    assert _code(refused) == grpc.StatusCode.PERMISSION_DENIED
    assert "gpu-a" in (refused.value.details() or "")
    await host_b.close()


async def test_a_host_certificate_only_joins_as_its_own_hostname(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await join(channel_to(ca.host("gpu-a")), tokens[0])  # joins as "gpu-test"
    assert _code(refused) == grpc.StatusCode.PERMISSION_DENIED


async def test_hello_cannot_rename_the_host_to_one_the_certificate_does_not_name(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    agent = await join(channel_to(ca.host("gpu-test")), tokens[0])
    hello = agent_pb2.Hello(host_id=agent.host_id, hostname="gpu-b", agent_version="1")
    await agent.open(first=agent_pb2.AgentMessage(hello=hello))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agent.receive()
    assert _code(refused) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_host_id_uri_certificate_streams_and_operator_certificates_cannot(
    channel_to: OpenChannel, tokens: tuple[str, str], ca: TestCA
) -> None:
    joined = await _joined(channel_to(ca.host("gpu-test")), tokens[0])
    await joined.close()
    by_id = ca.issue("renamed", uris=(f"torpor-host:{joined.host_id}",))
    again = ScriptedAgent(joined.host_id, joined.credential, channel_to(by_id))
    await again.open()
    assert (await again.receive()).WhichOneof("payload") == "welcome"
    await again.close()
    stub = agent_pb2_grpc.AgentServiceStub(channel_to(ca.operator("alice")))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Join(agent_pb2.JoinRequest(join_token=tokens[0], hostname="alice"))
    assert _code(refused) == grpc.StatusCode.PERMISSION_DENIED
