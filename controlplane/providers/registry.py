"""The providers this control plane can place hosts with, by name.

Created empty with the services and filled by the runtime once the gRPC port is known
(the local provider's agents need it), so domain code asks `services.providers.get()`
and tests may register a fake provider on services built without a runtime. Every host
the control plane gives back goes through `release`, so the hub hears of it first.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ..errors import InvalidArgument, Unavailable
from .base import Offer, Provider


class ReleaseWatch(Protocol):
    """Who must know a host is given back on purpose (the hub, fleet/hub.py)."""

    def releasing(self, host_id: str | None) -> AbstractAsyncContextManager[None]: ...


class ProviderRegistry:
    def __init__(self, watch: ReleaseWatch) -> None:
        self._watch = watch
        self._providers: dict[str, Provider] = {}
        self._default: str | None = None

    def register(self, provider: Provider, *, default: bool = False) -> None:
        """Adds (or replaces) `provider` under its name; the first one is the default."""
        self._providers[provider.name] = provider
        if default or self._default is None:
            self._default = provider.name

    def get(self, name: str | None = None) -> Provider:
        """The provider called `name` (None: the default). InvalidArgument for an unknown
        name, Unavailable when none is registered yet (the control plane is starting)."""
        if not self._providers or self._default is None:
            raise Unavailable("no provider is running yet; retry in a moment")
        provider = self._providers.get(name or self._default)
        if provider is None:
            known = ", ".join(sorted(self._providers))
            raise InvalidArgument(f"unknown provider {name!r}; use {known}", field="provider")
        return provider

    async def release(
        self, name: str, lease_id: str, host_id: str | None, *, lost: bool = False
    ) -> None:
        """Gives `lease_id` (host `host_id`, None if it never joined) back to provider
        `name`: the hub hears first, so its stream ending is not a loss, and the host is
        `released` once the provider returned. `lost`: kill it outright (Provider.release).
        Raises what the provider raises (the host is then expected again)."""
        provider = self.get(name)
        async with self._watch.releasing(host_id):
            await provider.release(lease_id, lost=lost)

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    async def offers(self) -> list[Offer]:
        """Every provider's offers."""
        return [offer for name in self.names for offer in await self._providers[name].offers()]

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        self._providers.clear()
        self._default = None
