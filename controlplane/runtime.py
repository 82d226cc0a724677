"""ControlPlane: everything one control-plane process runs, started and stopped in order.

Start: database (migrations) -> services -> liveness reaper -> gRPC server -> provider ->
unfinished instance operations resumed (journal) -> the snapshot schedule.
Stop, in reverse: end the agent streams (without marking hosts disconnected: a restart is
not an outage), stop gRPC with a short grace, stop the reaper, dispose of the engine.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

import grpc
from sqlalchemy import text

from .db.engine import one_line, redact
from .errors import NotFound, Unavailable
from .grpc.admin_servicer import AdminServicer
from .grpc.agent_servicer import AgentServicer
from .grpc.certificate_policy import CertificatePolicy
from .grpc.context import InFlight
from .grpc.server import build_server
from .grpc.tls import server_tls
from .provider_factory import build_provider
from .services import Services, open_services
from .settings import Settings

log = logging.getLogger(__name__)
GRPC_STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class MetricsSnapshot:
    """Live state read at scrape time."""

    hosts_by_state: dict[str, int]
    agent_streams: int
    events_by_kind: dict[str, int]
    event_subscribers: int


class ControlPlane:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = AsyncExitStack()
        self._services: Services | None = None
        self._grpc: grpc.aio.Server | None = None
        self.grpc_port = 0
        self._inflight = InFlight()

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the control plane is not running")
        return self._services

    async def __aenter__(self) -> ControlPlane:
        try:
            self._services = await self._stack.enter_async_context(open_services(self.settings))
            # before the hub: a host it declares lost is failed over
            self.services.failover.start()
            self._stack.push_async_callback(self.services.failover.close)
            held = await self.services.failover.held_on_disconnected()
            await self.services.hub.start(also_expected=held)
            self._stack.push_async_callback(self.services.hub.stop)
            # before gRPC: agents coming back report `instance.fenced` at once
            self.services.failover.reassignment.start()
            self._stack.push_async_callback(self.services.failover.reassignment.close)
            await self._start_grpc()
            self._start_provider()
            # providers known: which hosts had a fence bound, and overran it while we were away
            await self.services.failover.reassignment.mark_overdue()
            # last: resumed operations call providers and send commands to agents
            await self.services.operations.resume_all()
            self._stack.push_async_callback(self.services.operations.close)
            self.services.schedule.start()
            self._stack.push_async_callback(self.services.schedule.stop)
            self._stack.push_async_callback(self.services.drains.close)
            self.services.warmpool.reconciler.start()
            self._stack.push_async_callback(self.services.warmpool.reconciler.stop)
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("control plane running: database %s", redact(self.settings.database_url))
        return self

    async def _start_grpc(self) -> None:
        services = self.services
        agent = AgentServicer(services.join_tokens, services.agent_sessions, self._inflight)
        admin = AdminServicer(services, self._inflight, self.settings.join_token_ttl_s)
        tls = server_tls(self.settings)
        server, self.grpc_port = build_server(
            self.settings.grpc_host,
            self.settings.grpc_port,
            agent,
            admin,
            tls=tls,
            interceptors=[CertificatePolicy(self._hostname_of)] if tls and tls.mutual else [],
        )
        await server.start()
        self._grpc = server
        self._stack.push_async_callback(self._stop_grpc)

    async def _hostname_of(self, host_id: str) -> str | None:
        """For the certificate policy: the stored hostname, None for an unknown host."""
        try:
            return (await self.services.hosts.get(host_id)).hostname
        except NotFound:
            return None

    def _start_provider(self) -> None:
        """After gRPC: the local provider's agents need the port. Closed before gRPC stops
        (the local provider leaves its agents running for the restart)."""
        provider = build_provider(self.settings, self.services, self.grpc_port)
        self.services.providers.register(provider, default=True)
        self._stack.push_async_callback(self.services.providers.close)

    async def _stop_grpc(self) -> None:
        """Ends streams and watches first so the grace period is not spent waiting on them."""
        self.services.hub.close_all()
        self.services.bus.close()
        if self._grpc is not None:
            await self._grpc.stop(GRPC_STOP_GRACE_S)
        await self._inflight.drain(GRPC_STOP_GRACE_S)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        self._services = None

    async def check_database(self) -> None:
        """Raises Unavailable when the database cannot answer `SELECT 1`."""
        try:
            async with self.services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as err:
            raise Unavailable(f"the database is not answering: {one_line(err)}") from err

    async def metrics_snapshot(self) -> MetricsSnapshot:
        services = self.services
        return MetricsSnapshot(
            hosts_by_state=await services.hosts.count_by_state(),
            agent_streams=services.hub.stream_count,
            events_by_kind=dict(services.bus.published_by_kind),
            event_subscribers=services.bus.subscriber_count,
        )
