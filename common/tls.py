"""Client-side TLS for the gRPC channel, shared by the agent and torporctl (docs/tls.md).

Files are read when the channel is made, so a renewed certificate is picked up on the next
connection without a restart of the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

# Words gRPC puts in the details of a call that failed in the TLS handshake.
_HANDSHAKE_WORDS = ("ssl", "tls", "handshake", "certificate", "socket closed")


@dataclass(frozen=True)
class ClientTls:
    """Which CA to trust and which certificate to present.

    `ca` unset: the system's roots. `cert`/`key` unset: no client certificate (enough
    when the server does not require one). `server_name`: the name to check the server's
    certificate against when the address is an IP or an alias it does not carry.
    """

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """Raises OSError when a file cannot be read."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes() if self.ca else None,
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
        )

    def options(self) -> list[tuple[str, str]]:
        if not self.server_name:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


def looks_like_handshake_failure(details: str) -> bool:
    """True when a call's UNAVAILABLE details read like a failed TLS handshake."""
    lowered = details.lower()
    return any(word in lowered for word in _HANDSHAKE_WORDS)
