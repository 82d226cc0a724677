"""The agent's link to the control plane: join once, then keep one Connect stream up.

Failures fall in two kinds (STYLE.md, "Errors in three kinds"): a refused token or
credential is permanent (`PermanentError`: the operator must act), everything else is
retried after a full-jitter backoff (docs/design.md, "The stream protocol", point 9).

Backoff reset: the attempt count goes back to zero only after a stream that stayed up
`STABLE_STREAM_S` past its Welcome. Resetting at Welcome alone would let a control plane
that welcomes and then crashes pull the whole fleet into a tight reconnect loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from torpor.common.backoff import Backoff
from torpor.common.tls import looks_like_handshake_failure
from torpor.proto.v1 import agent_pb2, agent_pb2_grpc

from .commands import CommandDispatcher
from .config import ControlPlaneSection
from .errors import PermanentError
from .gpu.monitor import GpuMonitor
from .identity import CredentialStore, HostCredential
from .outbox import Outbox
from .stream import HostFacts, Session, SessionDeps, StreamFailed
from .telemetry.host import HostProbe

log = logging.getLogger(__name__)

T = TypeVar("T")
StateCallback = Callable[[str], None]

STABLE_STREAM_S = 10.0
KEEPALIVE_TIME_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 5_000
CHANNEL_MIN_RECONNECT_MS = 200
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def channel_options(section: ControlPlaneSection) -> list[tuple[str, int]]:
    """Keepalive pings notice a silently dead peer; gRPC's own reconnect backoff is kept
    short because `Connection`'s backoff loop is the real policy."""
    return [
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", CHANNEL_MIN_RECONNECT_MS),
        ("grpc.min_reconnect_backoff_ms", CHANNEL_MIN_RECONNECT_MS),
        ("grpc.max_reconnect_backoff_ms", int(section.reconnect_max_s * 1000)),
    ]


class Connection:
    """Joins if needed, then holds the Connect stream until `stop()`.

    `run()` returns after a graceful stop and raises PermanentError when the control
    plane refuses this host. `on_state` hears one line per state change (for STATUS=).
    """

    def __init__(
        self,
        section: ControlPlaneSection,
        store: CredentialStore,
        facts: HostFacts,
        probe: HostProbe,
        *,
        on_state: StateCallback = lambda _line: None,
        gpu: GpuMonitor | None = None,
        dispatcher: CommandDispatcher | None = None,
        outbox: Outbox | None = None,
        on_welcome: Callable[[agent_pb2.Welcome], None] = lambda _welcome: None,
        assignment: Callable[[], agent_pb2.Assignment | None] = lambda: None,
        on_link: Callable[[bool], None] = lambda _up: None,
    ) -> None:
        self._section = section
        self._store = store
        self._on_state = on_state
        self._on_welcome = on_welcome
        self._stopping = asyncio.Event()
        self._backoff = Backoff(section.reconnect_initial_s, section.reconnect_max_s)
        self._welcomed_at: float | None = None
        self._deps = SessionDeps(
            facts=facts,
            probe=probe,
            dispatcher=dispatcher or CommandDispatcher(),
            stopping=self._stopping,
            welcome_timeout_s=section.connect_timeout_s,
            on_welcome=self._welcomed,
            gpu=gpu,
            outbox=outbox or Outbox(),
            assignment=assignment,
            on_link=on_link,
        )

    def stop(self) -> None:
        """Asks `run()` to say goodbye on the stream and return (safe from a signal handler)."""
        self._stopping.set()

    async def run(self) -> None:
        async with self._channel() as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            while not self._stopping.is_set():
                reason = await self._attempt(stub)
                if reason is None:
                    return
                await self._pause(reason)

    def _channel(self) -> grpc.aio.Channel:
        """TLS when the config names a CA or a client certificate, else plaintext."""
        options: list[tuple[str, int | str]] = [*channel_options(self._section)]
        tls = self._section.tls()
        if tls is None:
            return grpc.aio.insecure_channel(self._section.address, options=options)
        try:
            credentials = tls.credentials()
        except OSError as error:
            raise PermanentError(f"control_plane.tls_*: cannot read a TLS file: {error}") from None
        options += tls.options()
        return grpc.aio.secure_channel(self._section.address, credentials, options=options)

    async def _attempt(self, stub: agent_pb2_grpc.AgentServiceAsyncStub) -> str | None:
        """One join-if-needed and one stream; returns why it ended, None once stopped."""
        self._welcomed_at = None
        try:
            credential = await self._until_stopped(self._credential(stub))
            if credential is None:
                return None
            stopped = await self._stream(stub, credential)
        except StreamFailed as failure:
            return str(failure)
        except grpc.aio.AioRpcError as error:
            return _reason(error, tls=self._section.tls() is not None)
        return None if stopped else "the control plane ended the stream"

    async def _credential(self, stub: agent_pb2_grpc.AgentServiceAsyncStub) -> HostCredential:
        """The stored credential, else one from Join (stored before it is used)."""
        stored = self._store.load()
        if stored is not None:
            return stored
        token = self._section.token()
        if token is None:
            raise PermanentError(
                f"this host has not joined yet ({self._store.credentials_path} does not exist) "
                "and no join token is configured; create one with "
                "`torpor-controlplane tokens create` and set control_plane.join_token"
            )
        return await self._join(stub, token)

    async def _join(self, stub: agent_pb2_grpc.AgentServiceAsyncStub, token: str) -> HostCredential:
        self._on_state(f"joining the control plane at {self._section.address}")
        request = agent_pb2.JoinRequest(
            join_token=token,
            hostname=self._deps.facts.hostname,
            join_nonce=self._store.join_nonce(),
        )
        try:
            response = await stub.Join(request, timeout=self._section.connect_timeout_s)
        except grpc.aio.AioRpcError as error:
            if error.code() in REFUSED:
                raise PermanentError(
                    f"join token refused by the control plane: {error.details()}; create a new "
                    "one with `torpor-controlplane tokens create` and put it in "
                    "control_plane.join_token"
                ) from None
            raise
        credential = HostCredential(response.host_id, response.host_credential)
        self._store.save(credential)
        log.info("joined the control plane as host %s", credential.host_id)
        return credential

    async def _stream(
        self, stub: agent_pb2_grpc.AgentServiceAsyncStub, credential: HostCredential
    ) -> bool:
        """Runs one Connect stream; True when it ended because the agent is stopping."""
        self._on_state(f"connecting to {self._section.address}")
        metadata = (("authorization", f"Bearer {credential.credential}"),)
        call = stub.Connect(None, metadata=metadata)  # requests go by call.write()
        try:
            return await Session(call, credential.host_id, self._deps).run()
        except grpc.aio.AioRpcError as error:
            if error.code() in REFUSED:
                raise PermanentError(
                    f"the control plane refused this host's credential: {error.details()}; "
                    f"remove {self._store.credentials_path} and join again with a new token "
                    "(`torpor-controlplane tokens create`, control_plane.join_token)"
                ) from None
            raise
        finally:
            call.cancel()

    def _welcomed(self, welcome: agent_pb2.Welcome) -> None:
        self._welcomed_at = time.monotonic()
        log.info(
            "connected to %s as host %s (control plane %s)",
            self._section.address,
            welcome.host_id,
            welcome.server_version,
        )
        self._on_state(f"connected to {self._section.address} as host {welcome.host_id}")
        self._on_welcome(welcome)

    async def _pause(self, reason: str) -> None:
        """Logs the failure once and waits the backoff delay (or until stopped)."""
        welcomed_at = self._welcomed_at
        if welcomed_at is not None and time.monotonic() - welcomed_at >= STABLE_STREAM_S:
            self._backoff.reset()
        delay = self._backoff.next_delay()
        log.warning("control-plane stream down (%s); retrying in %.1f s", reason, delay)
        self._on_state(f"disconnected ({reason}); retrying in {delay:.1f} s")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopping.wait()

    async def _until_stopped(self, work: Awaitable[T]) -> T | None:
        """Runs `work` unless `stop()` comes first (then cancels it and returns None)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await task
        return None


def _reason(error: grpc.aio.AioRpcError, *, tls: bool) -> str:
    """The failure in one line; a failed TLS handshake also says what to check."""
    reason = f"{error.code().name}: {' '.join((error.details() or '').split())}"
    unavailable = error.code() == grpc.StatusCode.UNAVAILABLE
    if tls and unavailable and looks_like_handshake_failure(reason):
        reason += (
            "; if the TLS handshake failed, check control_plane.tls_ca_file, and that "
            "tls_cert_file is unexpired, from the control plane's client CA and names this host"
        )
    return reason
