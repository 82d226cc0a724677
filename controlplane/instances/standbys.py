"""What the lifecycle asks of warm pools (wake, failover), and what a claim records.

A wake or a failover first asks for a standby host; only when none is ready does it
acquire a new one from the provider. The lifecycle owns this small interface;
controlplane/warmpool implements it (`PoolClaims`), so the pools depend on the
lifecycle and never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..events.schemas import Event
from ..providers.base import HostSpec, Lease


@dataclass(frozen=True)
class WarmTarget:
    """The standby a claim would take now (failover readiness shows it)."""

    standby_id: str
    pool_id: str
    host_id: str
    region: str
    holds_latest: bool
    """It prefetched the instance's latest snapshot: a restore reads little."""


class StandbyClaims(Protocol):
    async def claim(
        self,
        spec: HostSpec,
        *,
        request_id: str,
        avoid_host_id: str | None = None,
        any_region: bool = False,
    ) -> Lease | None:
        """A ready standby host for `spec` (same GPU type and count; same region unless
        `any_region`), taken out of its pool and handed to `spec.instance_id`; None when
        none is ready. Never the host `avoid_host_id` (the one the instance is leaving).
        A second call with the same `request_id` returns the same placement."""
        ...

    async def peek(
        self, spec: HostSpec, *, avoid_host_id: str | None = None, any_region: bool = False
    ) -> WarmTarget | None:
        """The standby `claim` would take now, with the same rules; nothing is claimed."""
        ...


class NoStandbys:
    """No warm pool: every wake and failover acquires a new host."""

    async def claim(
        self,
        spec: HostSpec,
        *,
        request_id: str,
        avoid_host_id: str | None = None,
        any_region: bool = False,
    ) -> Lease | None:
        return None

    async def peek(
        self, spec: HostSpec, *, avoid_host_id: str | None = None, any_region: bool = False
    ) -> WarmTarget | None:
        return None


POOL_KEYS = ("standby", "pool")
"""What a placement says of the warm pool its host came from: empty for an acquired host."""


def placement_details(lease: Lease) -> dict[str, str]:
    """The details an instance's placement records, one shape whatever its source: the
    provider's facts about the host (the local provider's `workspace`, `config`, `log`,
    `repository`), and `standby` and `pool` — a claimed standby's ids, "" for a host
    acquired for the instance (the savings ledger adds `price_per_hour_cents`)."""
    return {key: "" for key in POOL_KEYS} | dict(lease.details)


def claimed_event(instance_id: str, lease: Lease, purpose: str) -> Event | None:
    """`warmpool.claimed` when `placement` came from a standby (None for a new host);
    `purpose` is the operation that claimed it (wake, failover)."""
    standby = str(lease.details.get("standby", ""))
    if not standby:
        return None
    pool = str(lease.details.get("pool", ""))
    return Event(
        "warmpool.claimed",
        f"standby {standby} (host {lease.host_id}) of pool {pool} claimed by "
        f"{instance_id} for {purpose}",
        host_id=lease.host_id,
        instance_id=instance_id,
        attributes={"pool_id": pool, "standby_id": standby, "purpose": purpose},
    )
