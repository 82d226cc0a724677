"""A small fake of the control plane's AgentService, served by a real grpc.aio server.

It is a test double of the other side of the wire: it speaks the stream protocol over a
real localhost socket, records what the agent sent, and lets a test push control messages
or refuse tokens. The real control plane lives in torpor.controlplane; the agent's tests
must not depend on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc

from torpor.proto.v1 import agent_pb2, agent_pb2_grpc

HOST_ID = "h-0001"
CREDENTIAL = "thc_h-0001.secret"
# The server side of the keepalive contract (design.md point 9): pings every 5 s are fine.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
]


@dataclass
class FakeAgentService(agent_pb2_grpc.AgentServiceServicer):
    """Records Join requests and stream messages; refuses when told to."""

    policy: agent_pb2.HeartbeatPolicy
    join_refusal: str | None = None
    connect_refusal: str | None = None
    joins: list[agent_pb2.JoinRequest] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    received: asyncio.Queue[agent_pb2.AgentMessage] = field(default_factory=asyncio.Queue)
    outbox: asyncio.Queue[agent_pb2.ControlMessage] = field(default_factory=asyncio.Queue)
    streams_ended: int = 0
    idle_policy: agent_pb2.IdlePolicyOverride | None = None
    """Sent in Welcome when set (the instance's idle-policy override)."""
    assignment: agent_pb2.Assignment | None = None
    """Sent in Welcome when set (the instance this host serves)."""

    async def Join(
        self, request: agent_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.JoinResponse:
        self.joins.append(request)
        if self.join_refusal is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, self.join_refusal)
        return agent_pb2.JoinResponse(host_id=HOST_ID, host_credential=CREDENTIAL)

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization", ""))
        if self.connect_refusal is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, self.connect_refusal)
        hello = await context.read()
        await self.received.put(hello)
        welcome = agent_pb2.Welcome(host_id=HOST_ID, server_version="fake", heartbeat=self.policy)
        if self.idle_policy is not None:
            welcome.idle_policy.CopyFrom(self.idle_policy)
        if self.assignment is not None:
            welcome.assignment.CopyFrom(self.assignment)
        await context.write(agent_pb2.ControlMessage(welcome=welcome))
        reader = asyncio.create_task(self._read_all(context))
        while not reader.done():
            sending = asyncio.create_task(self.outbox.get())
            try:
                await asyncio.wait({sending, reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # a stream cancelled by a server stop must not take the next message
                sent = sending.done()
                if not sent:
                    sending.cancel()
            if sent:
                await context.write(sending.result())
        self.streams_ended += 1

    async def _read_all(self, context: grpc.aio.ServicerContext) -> None:
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                return
            await self.received.put(message)

    async def next(self, kind: str, timeout_s: float = 5) -> agent_pb2.AgentMessage:
        """The next received message with payload `kind`, skipping others."""
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self.received.get()
                if message.WhichOneof("payload") == kind:
                    return message


class FakeControlPlane:
    """The fake service on a real grpc.aio server; can stop and come back on the same port."""

    def __init__(self, service: FakeAgentService, port: int = 0) -> None:
        self.service = service
        self.port = port
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = grpc.aio.server(options=SERVER_OPTIONS)
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self.service, self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
