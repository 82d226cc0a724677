"""With mutual TLS on, which certificate may call which RPC (docs/tls.md).

An interceptor, so every AdminService method (today's and those added later) is covered
without each servicer remembering a check:

- AdminService: an operator certificate (`torpor-operator:NAME`); an agent's certificate
  gets PERMISSION_DENIED, whatever token it carries.
- AgentService.Join: a host certificate naming the hostname the agent joins as.
- AgentService.Connect: a host certificate naming the host behind the credential (by id,
  or by its stored hostname), and the hostname its Hello reports.

The bearer token is still checked by the servicer afterwards: the certificate says which
machine or person is calling, the token that this one was admitted.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from torpor.proto.v1 import agent_pb2

from ..errors import PermissionDenied, TorporError
from ..identity import tokens
from .context import Context, abort, bearer_token
from .peer import PeerCertificate, peer_certificate

ADMIN_SERVICE = "/torpor.v1.AdminService/"
AGENT_SERVICE = "/torpor.v1.AgentService/"
HostnameLookup = Callable[[str], Awaitable[str | None]]
Check = Callable[[Any, Context], Awaitable[object]]

if TYPE_CHECKING:  # grpc-stubs makes these generic; the runtime classes are not
    Handler = grpc.RpcMethodHandler[Any, Any]
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    Interceptor = grpc.aio.ServerInterceptor


class CertificatePolicy(Interceptor):
    def __init__(self, hostname_of: HostnameLookup) -> None:
        self._hostname_of = hostname_of

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler: Handler | None = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return handler  # type: ignore[return-value]
        if method.startswith(ADMIN_SERVICE):
            return guarded(handler, _operator_only)
        if method == AGENT_SERVICE + "Join":
            return guarded(handler, _joining_host)
        if method == AGENT_SERVICE + "Connect":
            return guarded(handler, self._connecting_host)
        return guarded(handler, _host_certificate)

    async def _connecting_host(self, request_iterator: Any, context: Context) -> None:
        peer = await _host_certificate(None, context)
        host_id = tokens.split(bearer_token(context) or "", tokens.HOST_CREDENTIAL_PREFIX)
        if host_id is None:
            return  # no usable credential: the servicer answers UNAUTHENTICATED
        hostname = await self._hostname_of(host_id)
        if hostname is None or peer.names_host(host_id, hostname):
            return  # an unknown host is the servicer's UNAUTHENTICATED, not ours
        raise PermissionDenied(
            f"the client certificate is for {peer.describe()} but the credential is for "
            f"host {host_id} ({hostname}); give this agent the certificate issued for its machine"
        )


async def _operator_only(_request: Any, context: Context) -> None:
    peer = peer_certificate(context)
    if not peer.is_operator:
        raise PermissionDenied(
            f"AdminService needs an operator certificate (SAN URI torpor-operator:NAME); "
            f"this one is for {peer.describe()}"
        )


async def _host_certificate(_request: Any, context: Context) -> PeerCertificate:
    peer = peer_certificate(context)
    if peer.is_operator or not (peer.hostnames or peer.host_ids):
        raise PermissionDenied(
            f"AgentService needs a host certificate naming this machine (CN or SAN DNS); "
            f"this one is for {peer.describe()}"
        )
    return peer


async def _joining_host(request: agent_pb2.JoinRequest, context: Context) -> None:
    peer = await _host_certificate(request, context)
    if request.hostname.lower() not in peer.hostnames:
        raise PermissionDenied(
            f"the client certificate is for {peer.describe()} but the agent joins as "
            f"{request.hostname!r}; set agent.name to the certificate's hostname or issue "
            "one for this machine",
            field="hostname",
        )


def hello_checked(
    messages: AsyncIterator[agent_pb2.AgentMessage], peer: PeerCertificate, host_id: str | None
) -> AsyncIterator[agent_pb2.AgentMessage]:
    """The stream's messages, refusing a Hello whose hostname the certificate does not name."""

    async def checked() -> AsyncIterator[agent_pb2.AgentMessage]:
        async for message in messages:
            if message.WhichOneof("payload") == "hello":
                hostname = message.hello.hostname
                if not peer.names_host(host_id or "", hostname):
                    raise PermissionDenied(
                        f"Hello reports hostname {hostname!r} but the client certificate is "
                        f"for {peer.describe()}",
                        field="hostname",
                    )
            yield message

    return checked()


def guarded(handler: Handler, check: Check) -> Handler:
    """The same handler, running `check` before the behaviour; a refusal ends the call."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, check),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _streaming(handler.unary_stream, check),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _streaming(handler.stream_stream, check, checks_hello=True),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_unary_rpc_method_handler(
        _unary(handler.stream_unary, check),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary(behaviour: Any, check: Check) -> Any:
    async def wrapper(request: Any, context: Context) -> Any:
        try:
            await check(request, context)
        except TorporError as err:
            await abort(context, err)
        return await behaviour(request, context)

    return wrapper


def _streaming(behaviour: Any, check: Check, *, checks_hello: bool = False) -> Any:
    if not inspect.isasyncgenfunction(behaviour):  # a handler that writes with context.write
        return _unary(behaviour, check)

    async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
        try:
            await check(request, context)
        except TorporError as err:
            await abort(context, err)
        if checks_hello:
            host_id = tokens.split(bearer_token(context) or "", tokens.HOST_CREDENTIAL_PREFIX)
            request = hello_checked(request, peer_certificate(context), host_id)
        async for item in behaviour(request, context):
            yield item

    return wrapper
