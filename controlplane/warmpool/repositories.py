"""Where an instance's snapshots live, as a standby host must name them.

A standby is acquired for no instance, so its configured repository is not the one it
will restore from: the provider says the instance's repository URL (the local provider's
per-instance folder). A provider that cannot say gives "": the host's configured one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..providers.base import Provider


@runtime_checkable
class RepositoryLocator(Protocol):
    def repository_url(self, instance_id: str) -> str: ...


def repository_url(provider: Provider, instance_id: str) -> str:
    if isinstance(provider, RepositoryLocator):
        return provider.repository_url(instance_id)
    return ""
