"""AgentSessionService: the domain side of one agent's `Connect` stream.

The gRPC servicer only translates wire messages into these calls, so the protocol's rules
(who may report as whom, what counts as a heartbeat) live here, next to the services.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from ..errors import PermissionDenied
from ..events.bus import EventBus
from ..events.schemas import Event
from ..identity.host_credentials import HostCredentialService
from .hub import AgentHub
from .schemas import Assignment, Command, CommandResult, Fence, HeartbeatPolicy, Hello
from .service import HostService
from .stream import AgentStream


class IdleReports(Protocol):
    """The instances' side of idle detection (InstanceService)."""

    async def on_idle_report(self, host_id: str, idle: bool) -> None:
        """An idle host may have an instance to hibernate."""

    async def idle_policy_of(self, host_id: str) -> dict[str, Any]:
        """The idle-policy override of the host's instance, sent in every Welcome (an
        agent that restarted gets it back)."""
        ...


class HostAssignments(Protocol):
    """What each host serves and whether it is fenced (failover's Fencing)."""

    async def assignment_of(self, host_id: str) -> Assignment | None:
        """The instance the host serves now, re-stated in every Welcome."""

    async def check_hello(self, hello: Hello) -> Fence | None:
        """A Fence for a host whose placement was replaced."""


class PreemptionNotices(Protocol):
    """Failover's reaction to a host about to be taken away (FailoverService)."""

    async def on_preemption(
        self, host_id: str, deadline: datetime | None, source: str, detail: str
    ) -> None: ...


class AgentSessionService:
    def __init__(
        self,
        credentials: HostCredentialService,
        hosts: HostService,
        hub: AgentHub,
        bus: EventBus,
        *,
        idle: IdleReports,
        assignments: HostAssignments,
        preemptions: PreemptionNotices,
    ) -> None:
        self._credentials = credentials
        self._hosts = hosts
        self._hub = hub
        self._bus = bus
        self._idle = idle
        self._assignments = assignments
        self._preemptions = preemptions

    @property
    def policy(self) -> HeartbeatPolicy:
        return self._hub.policy

    async def authenticate(self, credential: str | None) -> str:
        """The host id behind the stream's credential (Unauthenticated otherwise)."""
        return await self._credentials.authenticate_host(credential)

    async def open(self, authenticated_host_id: str, hello: Hello) -> AgentStream:
        """Accepts the Hello of an authenticated host; one host cannot report as another."""
        if hello.host_id != authenticated_host_id:
            raise PermissionDenied(
                f"Hello names host {hello.host_id!r} but the credential is for "
                f"{authenticated_host_id!r}",
                field="host_id",
            )
        stream, _ = await self._hub.connect(hello)
        fence = await self._assignments.check_hello(hello)
        if fence is not None:  # goes out right after the Welcome
            stream.send(
                Command(fence, id=f"fence-{hello.host_id}-{fence.epoch}", epoch=fence.epoch)
            )
        return stream

    async def assignment(self, host_id: str) -> Assignment | None:
        return await self._assignments.assignment_of(host_id)

    async def preemption(
        self, stream: AgentStream, deadline: datetime | None, source: str, detail: str
    ) -> None:
        """The host is about to be taken away: failover decides what to do."""
        self._hub.touch(stream)
        await self._bus.publish(
            Event(
                "host.preemption_notice",
                f"host {stream.host_id} will be taken away ({source}): {detail}".rstrip(": "),
                host_id=stream.host_id,
                severity="warning",
                attributes={"source": source, "deadline": deadline.isoformat() if deadline else ""},
            )
        )
        await self._preemptions.on_preemption(stream.host_id, deadline, source, detail)

    async def telemetry(self, stream: AgentStream, telemetry: dict[str, Any]) -> None:
        self._hub.touch(stream)
        await self._hosts.record_telemetry(stream.host_id, telemetry)

    async def event(self, stream: AgentStream, event: Event) -> None:
        """Stores an agent's event, always under the stream's own host."""
        self._hub.touch(stream)
        await self._bus.publish(replace(event, host_id=stream.host_id, seq=0))

    def command_result(self, stream: AgentStream, result: CommandResult) -> None:
        self._hub.touch(stream)
        self._hub.resolve(stream, result)

    async def idle_policy(self, host_id: str) -> dict[str, Any]:
        return await self._idle.idle_policy_of(host_id)

    async def idle_report(self, stream: AgentStream, idle: bool) -> None:
        self._hub.touch(stream)
        await self._idle.on_idle_report(stream.host_id, idle)

    def heard_from(self, stream: AgentStream) -> None:
        """Any other message still proves the host alive."""
        self._hub.touch(stream)

    async def close(self, stream: AgentStream, reason: str) -> None:
        await self._hub.disconnect(stream, reason)
