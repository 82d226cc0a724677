"""Which provider places an instance: the one asked for, or the first whose offers match."""

from __future__ import annotations

from typing import Protocol

from ..errors import InvalidArgument, Unavailable
from ..providers.base import HostSpec, Offer, Provider


class Providers(Protocol):
    """The control plane's providers by name (providers/registry.py)."""

    @property
    def names(self) -> list[str]: ...

    def get(self, name: str | None = None) -> Provider: ...

    async def offers(self) -> list[Offer]: ...

    async def release(
        self, name: str, lease_id: str, host_id: str | None, *, lost: bool = False
    ) -> None: ...


async def choose(providers: Providers, spec: HostSpec, wanted: str | None) -> str:
    """The provider that places `spec`; InvalidArgument naming the field no offer matches."""
    names = [wanted] if wanted else providers.names
    if not names:
        raise Unavailable("no provider is running yet; retry in a moment")
    offers = [o for name in names for o in await providers.get(name).offers()]
    for name_of_field in ("gpu_type", "gpu_count", "region"):
        value = getattr(spec, name_of_field)
        narrowed = [o for o in offers if getattr(o, name_of_field) == value]
        if not narrowed:
            raise InvalidArgument(
                f"no offer has {name_of_field} {value!r}; see GET /api/v1/offers",
                field=name_of_field,
            )
        offers = narrowed
    return offers[0].provider
