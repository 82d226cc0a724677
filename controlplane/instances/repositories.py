"""Which snapshot repository an instance uses: the one place that works it out.

An instance's host is configured with its repository when the provider acquires it, and
its placement records that URL (`repository`). A standby is acquired for no instance,
so its configured repository is not the one it will restore from: the provider says the
instance's repository URL (the local provider's per-instance folder). A provider that
cannot say gives "": the host's configured one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..db.models import InstanceRow
from ..providers.base import Provider

REPOSITORY_KEY = "repository"
"""Where a placement's details record the repository URL its host was configured with."""


@runtime_checkable
class RepositoryLocator(Protocol):
    def repository_url(self, instance_id: str) -> str: ...


def repository_url(provider: Provider, instance_id: str) -> str:
    """The provider's URL of the instance's repository; "" when it cannot say."""
    if isinstance(provider, RepositoryLocator):
        return provider.repository_url(instance_id)
    return ""


def repository_of(instance: InstanceRow) -> str:
    """The repository the instance's current host was configured with ("": the host's own
    configured one), for the Assign and Restore sent to it."""
    return str((instance.placement or {}).get(REPOSITORY_KEY, ""))
