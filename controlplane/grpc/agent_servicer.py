"""AgentService: Join and the Connect stream, translated onto the domain services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from torpor.common.timestamps import from_timestamp
from torpor.proto.v1 import agent_pb2, agent_pb2_grpc

from ..errors import FailedPrecondition, TorporError, Unavailable
from ..fleet.sessions import AgentSessionService
from ..fleet.stream import AgentStream
from ..identity.join_tokens import JoinTokenService
from . import convert
from .context import Context, InFlight, abort, bearer_token, unary

log = logging.getLogger(__name__)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self, join_tokens: JoinTokenService, sessions: AgentSessionService, inflight: InFlight
    ) -> None:
        self._join_tokens = join_tokens
        self._sessions = sessions
        self._inflight = inflight

    @unary
    async def Join(
        self, request: agent_pb2.JoinRequest, context: Context
    ) -> agent_pb2.JoinResponse:
        redemption = await self._join_tokens.redeem(
            request.join_token, request.hostname, request.join_nonce
        )
        return agent_pb2.JoinResponse(
            host_id=redemption.host_id, host_credential=redemption.credential
        )

    async def Connect(
        self, request_iterator: AsyncIterator[agent_pb2.AgentMessage], context: Context
    ) -> AsyncIterator[agent_pb2.ControlMessage]:
        """Authenticate, expect Hello, answer Welcome; then read and write concurrently."""
        with self._inflight.track():
            async for message in self._connect(request_iterator, context):
                yield message

    async def _connect(
        self, request_iterator: AsyncIterator[agent_pb2.AgentMessage], context: Context
    ) -> AsyncIterator[agent_pb2.ControlMessage]:
        try:
            stream, messages = await self._open(request_iterator, context)
        except TorporError as err:
            await abort(context, err)
        idle_policy = await self._sessions.idle_policy(stream.host_id)
        assignment = await self._sessions.assignment(stream.host_id)
        yield convert.welcome(stream.host_id, self._sessions.policy, idle_policy, assignment)
        reader = self._inflight.spawn(self._read(messages, stream), f"read-{stream.host_id}")
        try:
            while (item := await stream.next_outbound()) is not None:
                yield convert.outbound_to_proto(item)
        finally:
            reader.cancel()
            await self._inflight.shielded(self._close(reader, stream))
        if stream.close_error is not None:
            await abort(context, stream.close_error)

    async def _close(self, reader: asyncio.Task[None], stream: AgentStream) -> None:
        """Records the stream closed once its reader has unwound: a reader cancelled mid-write
        must release its database session before the disconnect is written (and before a
        stopping control plane disposes of the engine)."""
        await asyncio.wait([reader])
        await self._sessions.close(stream, "the stream ended")

    async def _open(
        self, request_iterator: AsyncIterator[agent_pb2.AgentMessage], context: Context
    ) -> tuple[AgentStream, AsyncIterator[agent_pb2.AgentMessage]]:
        """Authenticates before reading anything: a stranger's messages are never parsed."""
        host_id = await self._sessions.authenticate(bearer_token(context))
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("payload") != "hello":
            raise FailedPrecondition("the first message on a stream must be Hello")
        hello = convert.hello_from_proto(first.hello)
        return await self._sessions.open(host_id, hello), messages

    async def _read(
        self, messages: AsyncIterator[agent_pb2.AgentMessage], stream: AgentStream
    ) -> None:
        """Applies every message until the agent half-closes; then the stream ends cleanly."""
        try:
            async for message in messages:
                await self._apply(message, stream)
            stream.close()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream of host %s failed", stream.host_id)
            stream.close(Unavailable("the control plane failed to process a message; reconnect"))

    async def _apply(self, message: agent_pb2.AgentMessage, stream: AgentStream) -> None:
        kind = message.WhichOneof("payload")
        if kind == "telemetry":
            await self._sessions.telemetry(stream, convert.telemetry_to_dict(message.telemetry))
        elif kind == "event":
            await self._sessions.event(stream, convert.event_from_proto(message.event))
        elif kind == "command_result":
            result = convert.command_result_from_proto(message.command_result)
            self._sessions.command_result(stream, result)
        elif kind == "idle_report":
            await self._sessions.idle_report(stream, message.idle_report.idle)
        elif kind == "preemption_notice":
            notice = message.preemption_notice
            deadline = from_timestamp(notice.deadline) if notice.HasField("deadline") else None
            await self._sessions.preemption(stream, deadline, notice.source, notice.detail)
        else:
            self._sessions.heard_from(stream)
