"""What a host is told it serves (the Assign command and every Welcome), and the
self-fence bound that goes with it — the fencing rule of docs/design.md, "Fencing"."""

from __future__ import annotations

from ..db.models import InstanceRow
from ..errors import TorporError
from ..fleet.schemas import Assignment
from ..providers.base import Provider
from ..repository_keys.keyring import RepositoryKeyring
from .providers import Providers
from .repositories import repository_of


def assignment_of(
    instance: InstanceRow, fence_after_s: float, keys: RepositoryKeyring
) -> Assignment:
    """The instance its current host serves, at its epoch, with the secret of its
    repository. Raises RepositoryKeyError when the stored key does not open."""
    key = keys.open(instance.id, instance.wrapped_repository_key)
    return Assignment(instance.id, instance.epoch, repository_of(instance), fence_after_s, key)


def fence_after_for(instance: InstanceRow, providers: Providers, fence_after_s: float) -> float:
    """The self-fence bound sent to the instance's host: 0 (never) when its provider
    confirms a release (`Provider.confirms_release`) and the host has a lease to release —
    a failover then replaces it only once the release returned, so no outage of the
    control plane needs to stop its work. Else `fence_after_s`: nothing can confirm the
    host is gone, so it must stop on its own before a failover may start a replacement."""
    try:
        provider = providers.get(instance.provider)
    except TorporError:  # not registered (yet): assume the worst
        return fence_after_s
    if instance.lease_id and confirms_release(provider):
        return 0.0
    return fence_after_s


def confirms_release(provider: Provider) -> bool:
    """A provider that does not say is taken as one that cannot confirm (the safe side)."""
    return bool(getattr(provider, "confirms_release", False))
