"""Who the client certificate of a gRPC call names (mutual TLS, docs/tls.md).

gRPC has already verified the chain, the validity dates and the key usage when a call
arrives; this module only reads the names out of the auth context:

- a host (agent) certificate names its machine by hostname (CN or SAN DNS) and/or its
  host id (SAN URI `torpor-host:<host id>`);
- an operator certificate (torporctl) carries SAN URI `torpor-operator:<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .context import Context

HOST_URI_SCHEME = "torpor-host:"
OPERATOR_URI_SCHEME = "torpor-operator:"


@dataclass(frozen=True)
class PeerCertificate:
    """The names in a verified client certificate (empty when there is none)."""

    hostnames: frozenset[str]
    host_ids: frozenset[str]
    operators: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return bool(self.operators)

    def describe(self) -> str:
        """A short label for messages: 'operator alice', 'host gpu-a', 'no certificate'."""
        if self.operators:
            return f"operator {', '.join(sorted(self.operators))}"
        names = sorted(self.hostnames | self.host_ids)
        return f"host {', '.join(names)}" if names else "no torpor name"

    def names_host(self, host_id: str, hostname: str | None) -> bool:
        """True when the certificate names this host by id, or by its hostname."""
        if host_id in self.host_ids:
            return True
        return hostname is not None and hostname.lower() in self.hostnames


def _strings(values: object) -> list[str]:
    if not isinstance(values, list | tuple):
        return []
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def peer_certificate(context: Context) -> PeerCertificate:
    """The names in the call's client certificate.

    SAN entries arrive as one list mixing DNS names and URIs; a DNS name cannot hold a
    ':', so the two URI schemes are told apart by prefix.
    """
    auth = context.auth_context() or {}
    sans = _strings(auth.get("x509_subject_alternative_name"))
    hostnames = {n.lower() for n in sans if ":" not in n}
    hostnames |= {n.lower() for n in _strings(auth.get("x509_common_name")) if ":" not in n}
    host_ids = {n.removeprefix(HOST_URI_SCHEME) for n in sans if n.startswith(HOST_URI_SCHEME)}
    operators = {
        n.removeprefix(OPERATOR_URI_SCHEME) for n in sans if n.startswith(OPERATOR_URI_SCHEME)
    }
    if operators:  # an operator's CN is a person's name, never a machine's
        hostnames = set()
    return PeerCertificate(frozenset(hostnames), frozenset(host_ids), frozenset(operators))
