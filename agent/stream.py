"""One `AgentService.Connect` stream, from Hello to its end (docs/design.md, "The stream protocol").

The session sends Hello, waits for Welcome, then runs two loops until the stream ends or
the agent stops: telemetry every interval the control plane decides, and answers to what
the control plane sends (commands, new heartbeat policies).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import grpc
import psutil

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.common.version import torpor_version
from torpor.proto.v1 import agent_pb2, common_pb2

from .commands import CommandDispatcher
from .gpu import wire
from .gpu.monitor import GpuMonitor
from .outbox import Outbox
from .telemetry.host import HostProbe

log = logging.getLogger(__name__)

STOP_GRACE_S = 2.0
"""How long a stopping agent waits for the control plane to end the stream."""
MIN_INTERVAL_MS = 50
"""A floor under the server's interval, so a zero or tiny value cannot become a busy loop."""
DEFAULT_INTERVAL_MS = 5000

Call = grpc.aio.StreamStreamCall[agent_pb2.AgentMessage, agent_pb2.ControlMessage]
_STREAM_ERRORS = (grpc.aio.AioRpcError, asyncio.InvalidStateError)


class StreamFailed(Exception):
    """The stream broke in a way worth retrying; `str()` is the one-line reason."""


@dataclass(frozen=True)
class HostFacts:
    """What Hello says about this host; gathered once per process."""

    hostname: str
    labels: dict[str, str]
    booted_at: datetime
    os: str
    gpus: list[common_pb2.GpuInfo] = field(default_factory=list)


@dataclass
class SessionDeps:
    """What a session needs from the agent around it."""

    facts: HostFacts
    probe: HostProbe
    dispatcher: CommandDispatcher
    stopping: asyncio.Event
    welcome_timeout_s: float
    on_welcome: Callable[[agent_pb2.Welcome], None]
    gpu: GpuMonitor | None = None
    outbox: Outbox = field(default_factory=Outbox)
    """Messages made outside the stream (idle reports, long commands' results)."""
    assignment: Callable[[], agent_pb2.Assignment | None] = lambda: None
    """The assignment Hello states (fencing); None: this host serves no instance."""
    on_link: Callable[[bool], None] = lambda _up: None
    """True at Welcome, False when that stream ends: self-fencing counts the time between."""


class Session:
    """One Connect call; `run()` returns True when the agent stopped it, False when the server did.

    Raises:
        grpc.aio.AioRpcError: the call failed (the caller decides retry or give up).
        StreamFailed: the server broke the protocol or sent no Welcome in time.
    """

    def __init__(self, call: Call, host_id: str, deps: SessionDeps) -> None:
        self._call = call
        self._host_id = host_id
        self._deps = deps
        self._seq = 0
        self._write_lock = asyncio.Lock()  # a gRPC stream takes one write at a time
        self._interval_s = DEFAULT_INTERVAL_MS / 1000
        self._policy_changed = asyncio.Event()

    async def run(self) -> bool:
        await self._send(agent_pb2.AgentMessage(hello=self._hello()))
        welcome = await self._welcome()
        if welcome is None:
            return True
        self._adopt(welcome.heartbeat)
        self._deps.on_link(True)
        try:
            return await self._converse()
        finally:
            self._deps.on_link(False)

    async def _converse(self) -> bool:
        """Telemetry and answers side by side until the stream ends or the agent stops."""
        receiver = asyncio.create_task(self._receive())
        heartbeat = asyncio.create_task(self._heartbeat())
        gpu_events = asyncio.create_task(self._gpu_events())
        forwarder = asyncio.create_task(self._forward())
        stop = asyncio.create_task(self._deps.stopping.wait())
        senders = {heartbeat, gpu_events, forwarder}
        try:
            done, _ = await asyncio.wait(
                {receiver, stop} | senders, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done:
                await self._close(receiver, *senders)
                return True
            for sender in senders & done:
                if not isinstance(sender.exception(), _STREAM_ERRORS):
                    sender.result()  # a bug in the agent, not a stream failure: let it show
            await receiver  # raises the call's status, or returns at the server's end
            return False
        finally:
            for task in (receiver, stop, *senders):
                task.cancel()

    def _hello(self) -> agent_pb2.Hello:
        facts = self._deps.facts
        hello = agent_pb2.Hello(
            host_id=self._host_id,
            hostname=facts.hostname,
            agent_version=torpor_version(),
            gpus=self._gpu_inventory(),
            labels=facts.labels,
            booted_at=to_timestamp(facts.booted_at),
            os=facts.os,
        )
        assignment = self._deps.assignment()
        if assignment is not None:
            hello.assignment.CopyFrom(assignment)
        return hello

    async def _welcome(self) -> agent_pb2.Welcome | None:
        """The server's first message must be Welcome; None when the agent stops first."""
        read = asyncio.create_task(self._call.read())
        stop = asyncio.create_task(self._deps.stopping.wait())
        timeout_s = self._deps.welcome_timeout_s
        done, _ = await asyncio.wait(
            {read, stop}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        if read not in done:
            read.cancel()  # cancels the call too
            if self._deps.stopping.is_set():
                return None
            raise StreamFailed(f"no Welcome within {timeout_s:g} s")
        message = read.result()
        if not isinstance(message, agent_pb2.ControlMessage):  # EOF with an OK status
            raise StreamFailed("the control plane ended the stream before Welcome")
        if message.WhichOneof("payload") != "welcome":
            raise StreamFailed(f"expected Welcome, got {message.WhichOneof('payload')}")
        self._deps.on_welcome(message.welcome)
        return message.welcome

    def _adopt(self, policy: agent_pb2.HeartbeatPolicy) -> None:
        """Takes the server's interval at once: the telemetry timer restarts with it."""
        interval_ms = max(policy.interval_ms or DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
        if interval_ms / 1000 != self._interval_s:
            log.info("heartbeat interval is now %d ms", interval_ms)
        self._interval_s = interval_ms / 1000
        self._policy_changed.set()

    async def _heartbeat(self) -> None:
        """Telemetry at once, then every interval."""
        while True:
            await self._send(agent_pb2.AgentMessage(telemetry=await self._telemetry()))
            await self._wait_interval()

    async def _wait_interval(self) -> None:
        """Sleeps one interval; a new policy restarts the sleep with the new interval."""
        self._policy_changed.clear()
        while True:
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._policy_changed.wait()
            except TimeoutError:
                return
            self._policy_changed.clear()

    async def _telemetry(self) -> common_pb2.Telemetry:
        """A failed probe still sends a (host-less) heartbeat: liveness matters more."""
        telemetry = common_pb2.Telemetry(at=to_timestamp(utc_now()))
        try:  # in a thread: a hung filesystem must not stall the event loop
            telemetry.host.CopyFrom(await asyncio.to_thread(self._deps.probe.sample))
        except (psutil.Error, OSError) as error:
            log.warning("host telemetry unavailable: %s", error)
        if self._deps.gpu is not None:
            wire.fill_telemetry(telemetry, *self._deps.gpu.take_telemetry())
        return telemetry

    def _gpu_inventory(self) -> list[common_pb2.GpuInfo]:
        """The GPUs of the latest poll, else what the host facts say (none before one)."""
        latest = self._deps.gpu.latest() if self._deps.gpu is not None else None
        if latest is None or not latest.gpus:
            return list(self._deps.facts.gpus)
        return [wire.gpu_info(gpu) for gpu in latest.gpus]

    async def _gpu_events(self) -> None:
        """GPU alerts (lost GPU, XID, ECC) as Events, as they happen; unsent ones wait."""
        if self._deps.gpu is None:
            await asyncio.Event().wait()  # nothing will come: idle until cancelled
            return
        pending = self._deps.gpu.events
        while True:
            await pending.wait()
            events = pending.take()
            for sent, event in enumerate(events):
                try:
                    await self._send(
                        agent_pb2.AgentMessage(event=wire.event_message(event, self._host_id))
                    )
                except BaseException:
                    pending.put_back(events[sent:])
                    raise

    async def _forward(self) -> None:
        """Sends what waits in the outbox; a message whose write fails is lost (the control
        plane resends commands whose result it did not see)."""
        while True:
            await self._send(await self._deps.outbox.get())

    async def _receive(self) -> None:
        while True:
            message = await self._call.read()
            if not isinstance(message, agent_pb2.ControlMessage):  # EOF: the server ended it
                return
            await self._handle(message)

    async def _handle(self, message: agent_pb2.ControlMessage) -> None:
        kind = message.WhichOneof("payload")
        if kind == "heartbeat":
            self._adopt(message.heartbeat)
        elif kind == "command":
            result = self._deps.dispatcher.handle(message.command)
            if result is not None:  # None: a long command, answered through the outbox
                await self._send(agent_pb2.AgentMessage(command_result=result))
        else:  # a second Welcome, or a payload newer than this agent
            log.debug("ignoring control message %s", kind)

    async def _close(self, receiver: asyncio.Task[None], *writers: asyncio.Task[None]) -> None:
        """Says goodbye, half-closes, and gives the server a moment to end the stream."""
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                async with self._write_lock:
                    # Cancelled only while we hold the lock: a write cut in half would
                    # cancel the whole call and lose the goodbye.
                    for writer in writers:
                        writer.cancel()
                    await self._write(agent_pb2.AgentMessage(event=self._stopping_event()))
                    await self._call.done_writing()
                await asyncio.wait({receiver})
        except (TimeoutError, *_STREAM_ERRORS) as error:
            log.debug("stream did not end cleanly while stopping: %s", error)
        finally:
            self._call.cancel()

    def _stopping_event(self) -> common_pb2.Event:
        return common_pb2.Event(
            id=uuid.uuid4().hex,
            at=to_timestamp(utc_now()),
            severity=common_pb2.SEVERITY_INFO,
            kind="agent.stopping",
            message=f"agent on {self._deps.facts.hostname} is stopping",
            host_id=self._host_id,
        )

    async def _send(self, message: agent_pb2.AgentMessage) -> None:
        async with self._write_lock:
            await self._write(message)

    async def _write(self, message: agent_pb2.AgentMessage) -> None:
        """Numbers and writes one message; the caller holds the write lock."""
        self._seq += 1
        message.seq = self._seq
        await self._call.write(message)
