"""The commands an operator can send a host (a ping, for now); HTTP and gRPC both go
through here."""

from __future__ import annotations

import time

from ..errors import FailedPrecondition
from .hub import AgentHub
from .schemas import Command, Ping
from .service import HostService

DEFAULT_PING_TIMEOUT_S = 5.0


class CommandService:
    """Operator-facing commands; HTTP and gRPC both go through here."""

    def __init__(self, hosts: HostService, hub: AgentHub) -> None:
        self._hosts = hosts
        self._hub = hub

    async def ping(self, host_id: str, timeout_s: float = DEFAULT_PING_TIMEOUT_S) -> float:
        """Round trip in milliseconds. NotFound: unknown host; FailedPrecondition: offline."""
        await self._hosts.get(host_id)
        started = time.monotonic()
        result = await self._hub.send_command(host_id, Command(Ping("ping")), timeout_s)
        if not result.ok:
            raise FailedPrecondition(
                f"host {host_id} answered the ping with an error: {result.error}"
            )
        return (time.monotonic() - started) * 1000
