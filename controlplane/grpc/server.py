"""Builds the gRPC server with both services on GRPC_HOST:GRPC_PORT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from torpor.proto.v1 import admin_pb2_grpc, agent_pb2_grpc

from ..errors import Unavailable
from .admin_servicer import AdminServicer
from .agent_servicer import AgentServicer
from .tls import ServerTls

# Agents ping every 10 s (design.md, stream protocol 9); without these options gRPC's
# default ping policy would answer their keepalives with GOAWAY "too_many_pings".
SERVER_OPTIONS = [
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
]


def build_server(
    host: str,
    port: int,
    agent: AgentServicer,
    admin: AdminServicer,
    *,
    tls: ServerTls | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
) -> tuple[grpc.aio.Server, int]:
    """The server (not started) and the port it bound (useful when `port` is 0).

    With `tls` the port speaks TLS only: there is no plaintext port beside it."""
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent, server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, tls.credentials())
    except RuntimeError as err:
        raise Unavailable(f"cannot listen for gRPC on {address}: {err}") from err
    if bound == 0:
        raise Unavailable(f"cannot listen for gRPC on {address}: address in use or not local")
    return server, bound
