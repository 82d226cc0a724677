"""The provider interface: acquire a host for an instance, release it, say what it offers.

A provider is where GPU machines come from: a cloud account, a bare-metal pool, or this
machine (`local`). The control plane asks it for a host matching an instance's spec, waits
for that host's agent to connect, and gives the host back when the instance hibernates or
is deleted. Everything about the machine itself (price, region, GPU type) is the
provider's to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Offer:
    """What a provider can place: `gpu_count` x `gpu_type` in `region`, at a price."""

    provider: str
    gpu_type: str
    gpu_count: int
    region: str
    price_per_hour_cents: int
    """Price of the whole machine per hour, in US cents (integer: savings are to the cent)."""
    available: int | None = None
    """How many more such hosts can be had now; None when the provider cannot say."""


@dataclass(frozen=True)
class HostSpec:
    """What an instance needs from a host."""

    gpu_type: str
    gpu_count: int
    region: str
    instance_id: str = ""
    """The instance the host is for: hosts of one instance share its snapshot repository
    (the wake host restores what the hibernated one saved); empty: the host's own."""


@dataclass(frozen=True)
class Lease:
    """A host a provider acquired for one instance."""

    provider: str
    lease_id: str
    """The provider's own handle (a process id, a cloud instance id): used to release it."""
    host_id: str
    """The control plane's host id, once the host's agent joined."""
    offer: Offer
    details: dict[str, str] = field(default_factory=dict)
    """Provider-specific facts worth recording (a workspace path, a cloud zone)."""


class Provider(Protocol):
    """Acquires and releases hosts. Implementations must make both idempotent by
    `request_id`/`lease_id`: the control plane retries after a crash or a restart."""

    name: str
    confirms_release: bool
    """True when a returned `release` means the host is gone — its processes dead, for
    sure (local: the process group killed; a cloud: the machine terminated). The control
    plane then tells such hosts never to fence themselves (`fence_after_ms` 0): a failover
    replaces one only after its release returned, so a control-plane outage of any length
    costs no running work. False (an operator's own machines, nothing to terminate): the
    host self-fences after `TORPOR_FENCE_AFTER_S` without the control plane, and a
    failover that could not fence it waits that bound out (docs/design.md, "Failover and
    fencing")."""

    async def offers(self) -> list[Offer]:
        """Every (gpu type, count, region) this provider can place, with its price."""
        ...

    async def acquire(self, spec: HostSpec, *, request_id: str) -> Lease:
        """A new host for `spec`, its agent joined (the host id known). A second call with
        the same `request_id` returns the same placement instead of a second host.

        Raises InvalidArgument (field `gpu_type`, `gpu_count` or `region`) for a spec no
        offer matches, Unavailable when none can be had now."""
        ...

    async def release(self, lease_id: str, *, lost: bool = False) -> None:
        """Stops the host and deletes what lived on it; releasing twice is a no-op.

        `lost`: the control plane declared the host lost (silent past ttl+grace; it may be
        frozen or partitioned, not dead), so it is killed outright — SIGKILL, a cloud's
        terminate — with no graceful stop to wait for: a frozen host must not delay its
        instance's failover. Callers go through `ProviderRegistry.release`, which tells the
        hub first, so a host given back is never reported lost."""
        ...

    async def forget_snapshots(self, instance_id: str, snapshot_ids: list[str]) -> None:
        """Removes these snapshots of the instance from its repository (unreferenced data
        is pruned); an id already gone is skipped. The control plane calls it for retention,
        `DELETE /snapshots/{id}` and when the instance is deleted."""
        ...

    async def delete_repository(self, instance_id: str) -> None:
        """The instance is deleted: its whole snapshot repository goes, manifests no record
        names included (one a fenced host wrote after its epoch had ended), so nothing of
        it outlives the instance; a no-op when there is none. Called after
        `forget_snapshots`, and again if a delete is resumed."""
        ...

    async def close(self) -> None:
        """Called at control-plane shutdown; local hosts may stay up for the restart."""
        ...
