"""AgentHub: the live agent streams, their liveness deadlines, and commands in flight.

Per design.md "The stream protocol": at most one stream per host (a newer one replaces
the older), a host silent for ttl+grace is lost, and after a control-plane restart every
host recorded as connected gets a fresh ttl+grace to come back before it is written off.
A host given back on purpose (`releasing`) is never lost: the control plane stopped
expecting to hear from it before its provider stopped it. A loss is published as
`host.lost` on the event bus (HostService records it); failover subscribes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence

from ..errors import FailedPrecondition, Unavailable
from .pending import PendingCommands
from .schemas import Command, CommandResult, HeartbeatPolicy, Hello, HostView
from .service import HostService
from .stream import AgentStream

log = logging.getLogger(__name__)
MAX_REAP_INTERVAL_S = 0.25  # a due host is found within this: detection is ttl+grace, not more


class AgentHub:
    def __init__(
        self,
        hosts: HostService,
        policy: HeartbeatPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hosts = hosts
        self.policy = policy
        self._clock = clock
        self._streams: dict[str, AgentStream] = {}
        self._awaiting: dict[str, float] = {}  # restart: host id -> reconnect deadline
        self._gone: dict[str, float] = {}  # stream ended: host id -> reconnect deadline
        self._releasing: set[str] = set()  # given back now: its stream's end is no loss
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pending = PendingCommands()
        self._reaper: asyncio.Task[None] | None = None
        self._accepting = True

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def is_connected(self, host_id: str) -> bool:
        return host_id in self._streams

    def _deadline(self) -> float:
        return self._clock() + self.policy.lost_after_s

    async def start(self, also_expected: Sequence[str] = ()) -> None:
        """Gives hosts recorded as connected a fresh deadline, then starts the reaper.

        `also_expected`: hosts recorded disconnected that still hold a running instance
        (failover knows them). A host that disconnected just before the control plane went
        down (its deadline never ran) is lost, as it would have been, if it is not back
        within ttl+grace. A restart alone never loses a host."""
        deadline = self._deadline()
        awaited = [*await self._hosts.connected_ids(), *also_expected]
        self._awaiting = {host_id: deadline for host_id in awaited}
        interval = min(MAX_REAP_INTERVAL_S, self.policy.lost_after_s / 4)
        self._reaper = asyncio.create_task(self._reap_forever(interval), name="torpor-reaper")

    def close_all(self) -> None:
        """Ends every stream without marking hosts disconnected: a restart is not an outage."""
        self._accepting = False
        for stream in list(self._streams.values()):
            stream.close(Unavailable("the control plane is shutting down; reconnect"))
        self._streams.clear()
        self._pending.fail_all(Unavailable("the control plane is shutting down"))

    async def stop(self) -> None:
        self.close_all()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def connect(self, hello: Hello) -> tuple[AgentStream, HostView]:
        """Registers the host's new stream (closing an older one) and records it connected."""
        if not self._accepting:
            raise Unavailable("the control plane is shutting down; reconnect")
        async with self._locks[hello.host_id]:
            view = await self._hosts.record_hello(hello)  # first: an unknown host gets no stream
            older = self._streams.get(hello.host_id)
            if older is not None:
                older.close(Unavailable("replaced by a newer stream of the same host"))
                self._pending.fail_host(hello.host_id, Unavailable("stream replaced"))
            stream = AgentStream(hello.host_id, self._deadline())
            self._streams[hello.host_id] = stream
            self._awaiting.pop(hello.host_id, None)
            self._gone.pop(hello.host_id, None)
        return stream, view

    def touch(self, stream: AgentStream) -> None:
        """A message arrived: the host is alive for another ttl+grace."""
        stream.deadline = self._deadline()

    async def disconnect(self, stream: AgentStream, reason: str) -> None:
        """The stream ended; the host is disconnected unless a newer stream replaced it,
        and lost if it is not back within ttl+grace of its last message: the silence began
        then, not when the connection broke (a killed agent is lost ttl+grace after it last
        spoke, not up to 25 s)."""
        removed = await self._remove(stream, reason, "host.disconnected")
        if removed and self._accepting and stream.host_id not in self._releasing:
            self._gone[stream.host_id] = stream.deadline

    @contextlib.asynccontextmanager
    async def releasing(self, host_id: str | None) -> AsyncIterator[None]:
        """Wraps a provider's release of `host_id`: from the start the host is no longer
        expected (its stream ending, or its silence, is not a loss), and once the release
        returned its row is `released` (event `host.released`) and any stream it still
        has is closed. A release that raises leaves the host expected again: silent from
        then on for ttl+grace, it is lost. None: a lease that never joined, nothing to do."""
        if not host_id:
            yield
            return
        self._releasing.add(host_id)
        self._gone.pop(host_id, None)
        self._awaiting.pop(host_id, None)
        try:
            yield
        except BaseException:
            self._releasing.discard(host_id)
            if host_id not in self._streams and self._accepting:
                self._gone[host_id] = self._deadline()
            raise
        try:
            await self._released(host_id)
        finally:
            self._releasing.discard(host_id)

    async def _released(self, host_id: str) -> None:
        async with self._locks[host_id]:
            stream = self._streams.pop(host_id, None)
            if stream is not None:  # a cloud host's connection may outlive its terminate
                stream.close(Unavailable("this host was released by the control plane"))
                self._pending.fail_host(host_id, Unavailable("host released"))
            await self._hosts.record_released(host_id)

    async def _remove(self, stream: AgentStream, reason: str, kind: str) -> bool:
        async with self._locks[stream.host_id]:
            if self._streams.get(stream.host_id) is not stream:
                return False
            del self._streams[stream.host_id]
            stream.close(Unavailable(reason) if kind == "host.lost" else None)
            self._pending.fail_host(stream.host_id, Unavailable(f"host disconnected: {reason}"))
            lost = kind == "host.lost"
            recorded = await self._hosts.record_disconnect(
                stream.host_id, reason, kind, "warning" if lost else "info"
            )
            if lost and not recorded:  # not recorded connected: the loss is news all the same
                await self._hosts.record_lost(stream.host_id, reason)
        return True

    async def send_command(self, host_id: str, command: Command, timeout_s: float) -> CommandResult:
        """Sends `command` down the host's stream and waits for its result.

        Raises FailedPrecondition when the host has no stream, DeadlineExceeded on timeout.
        """
        stream = self._streams.get(host_id)
        if stream is None:
            raise FailedPrecondition(f"host {host_id} is not connected", field="host_id")
        waiting = self._pending.expect(host_id, command.id)
        stream.send(command)
        return await self._pending.wait(command.id, waiting, timeout_s)

    def resolve(self, stream: AgentStream, result: CommandResult) -> None:
        self._pending.resolve(stream.host_id, result)

    async def _reap_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reap_once()
            except Exception:
                log.exception("liveness check failed; retrying")

    async def reap_once(self) -> None:
        """Declares lost every host silent past its deadline."""
        now = self._clock()
        due = [s for s in self._streams.values() if s.deadline <= now]
        for stream in [s for s in due if s.host_id not in self._releasing]:
            silence = self.policy.lost_after_s
            await self._remove(stream, f"no message for {silence:g} s", "host.lost")
        for host_id in [h for h, deadline in self._awaiting.items() if deadline <= now]:
            await self._write_off(host_id)
        for host_id in [h for h, deadline in self._gone.items() if deadline <= now]:
            if self._gone.pop(host_id, None) is not None and host_id not in self._streams:
                silence = self.policy.lost_after_s
                reason = f"disconnected and silent for {silence:g} s since its last message"
                await self._hosts.record_lost(host_id, reason)

    async def _write_off(self, host_id: str) -> None:
        async with self._locks[host_id]:
            if self._awaiting.pop(host_id, None) is None or host_id in self._streams:
                return
            reason = (
                f"did not reconnect within {self.policy.lost_after_s:g} s "
                "of a control-plane restart"
            )
            if not await self._hosts.record_disconnect(host_id, reason, "host.lost", "warning"):
                await self._hosts.record_lost(host_id, reason)  # recorded disconnected before
