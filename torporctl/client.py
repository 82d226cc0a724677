"""The admin gRPC connection: credentials on every call, failures turned into exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc

from torpor.common.tls import ClientTls, looks_like_handshake_failure
from torpor.proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# Status codes that mean "no answer from a control plane", as opposed to a refusal.
Response = TypeVar("Response")

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class CtlError(Exception):
    """One line for the operator, and the exit code that goes with it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Target:
    """Where the control plane's gRPC port is and how to prove who we are."""

    address: str
    token: str
    timeout_s: float
    tls: ClientTls | None = None
    """None: plaintext; else the CA to trust and the certificate to present."""


def explain(error: grpc.RpcError, address: str, tls: bool = False) -> CtlError:
    """Turns a failed call into the line an operator can act on."""
    call = cast(grpc.Call, error)  # every RpcError grpc raises is also a Call
    code = call.code()
    details = " ".join((call.details() or code.name).split())
    if code == grpc.StatusCode.UNAVAILABLE and looks_like_handshake_failure(details):
        return _handshake_failed(address, details, tls)
    if code in _UNREACHABLE:
        return CtlError(
            f"cannot reach the control plane at {address} ({details}): "
            "is `torpor-controlplane serve` running there? set --server or TORPOR_SERVER",
            EXIT_UNREACHABLE,
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        # The server's message already says how to create a token; we add where it goes.
        return CtlError(
            f"the control plane refused the admin token: {details}; "
            "pass it with --token or TORPOR_ADMIN_TOKEN",
            EXIT_REFUSED,
        )
    return CtlError(f"{code.name.lower().replace('_', ' ')}: {details}", EXIT_REFUSED)


def _handshake_failed(address: str, details: str, tls: bool) -> CtlError:
    """The server hangs up during the handshake without saying why: name what to check."""
    if tls:
        hint = (
            "check that --ca (TORPOR_CA) is the CA that signed the server's certificate and "
            "that --cert/--key (TORPOR_CERT, TORPOR_KEY) are an unexpired operator "
            "certificate from the control plane's client CA"
        )
    else:
        hint = "the server may require TLS: pass --ca, --cert and --key (TORPOR_CA, ...)"
    return CtlError(
        f"TLS handshake with the control plane at {address} failed ({details}): {hint}",
        EXIT_UNREACHABLE,
    )


class AdminClient:
    """Thin typed wrapper over the AdminService stub; every call carries the token."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._channel = _channel(target)
        self._stub = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {target.token}"),)

    def close(self) -> None:
        self._channel.close()

    def list_hosts(self, state: int = 0) -> list[admin_pb2.Host]:
        request = admin_pb2.ListHostsRequest(state=state)  # type: ignore[arg-type]
        return list(self._call(self._stub.ListHosts, request).hosts)

    def get_host(self, host_id: str) -> admin_pb2.Host:
        return self._call(self._stub.GetHost, admin_pb2.GetHostRequest(id=host_id))

    def ping_host(self, host_id: str, timeout_ms: int) -> admin_pb2.PingHostResponse:
        request = admin_pb2.PingHostRequest(host_id=host_id, timeout_ms=timeout_ms)
        return self._call(self._stub.PingHost, request, extra_s=timeout_ms / 1000)

    def call(self, rpc: str, request: Any) -> Any:
        """Any unary AdminService call by name (`ListInstances`, `DrainHost`, …)."""
        return self._call(getattr(self._stub, rpc), request)

    def watch_events(self, after_seq: int, host_id: str) -> Iterator[common_pb2.Event]:
        """Yields events until the caller stops iterating or the server ends the stream."""
        request = admin_pb2.WatchEventsRequest(after_id=after_seq, host_id=host_id)
        stream: Any = self._stub.WatchEvents(request, metadata=self._metadata)
        try:
            yield from stream
        except grpc.RpcError as error:
            if cast(grpc.Call, error).code() != grpc.StatusCode.CANCELLED:
                raise explain(error, self._target.address, self._tls) from None
        finally:
            stream.cancel()

    def _call(
        self, method: Callable[..., Response], request: Any, extra_s: float = 0.0
    ) -> Response:
        try:
            return method(
                request,
                metadata=self._metadata,
                timeout=self._target.timeout_s + extra_s,
                wait_for_ready=False,
            )
        except grpc.RpcError as error:
            raise explain(error, self._target.address, self._tls) from None

    @property
    def _tls(self) -> bool:
        return self._target.tls is not None


def _channel(target: Target) -> grpc.Channel:
    if target.tls is None:
        return grpc.insecure_channel(target.address)
    try:
        credentials = target.tls.credentials()
    except OSError as error:
        raise CtlError(f"cannot read a TLS file: {error}", EXIT_USAGE) from None
    return grpc.secure_channel(target.address, credentials, options=target.tls.options())
