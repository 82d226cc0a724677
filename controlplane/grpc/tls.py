"""The gRPC server's TLS credentials, from the TORPOR_GRPC_TLS_* settings (docs/tls.md)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from ..settings import Settings


@dataclass(frozen=True)
class ServerTls:
    """PEM bytes read once at start-up; `client_ca` set means mutual TLS."""

    cert_chain: bytes
    key: bytes
    client_ca: bytes | None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def credentials(self) -> grpc.ServerCredentials:
        """Client certificates are required (not just requested) under mutual TLS, so a
        caller without one fails the handshake before any RPC runs."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.mutual,
        )


def server_tls(settings: Settings) -> ServerTls | None:
    """None when TLS is off (no certificate configured)."""
    if settings.grpc_tls_cert is None or settings.grpc_tls_key is None:
        return None
    client_ca = settings.grpc_tls_client_ca
    return ServerTls(
        cert_chain=settings.grpc_tls_cert.read_bytes(),
        key=settings.grpc_tls_key.read_bytes(),
        client_ca=client_ca.read_bytes() if client_ca is not None else None,
    )
