"""The providers the control plane places instances with, by name, and matching offers."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidArgument
from ..providers.base import HostSpec, Offer, Provider


class ProviderSet:
    def __init__(self, providers: Mapping[str, Provider] | None = None) -> None:
        self._providers = dict(providers or {})

    def __bool__(self) -> bool:
        return bool(self._providers)

    def get(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self._providers)) or "none"
            raise InvalidArgument(
                f"no provider {name!r} on this control plane (configured: {known})",
                field="provider",
            )
        return provider

    async def offers(self) -> list[Offer]:
        found: list[Offer] = []
        for provider in self._providers.values():
            found.extend(await provider.offers())
        return sorted(found, key=lambda o: (o.gpu_type, o.gpu_count, o.region, o.provider))

    async def choose(self, spec: HostSpec, wanted: str | None) -> str:
        """The provider that places `spec` (the named one, or the first whose offers match).

        Raises InvalidArgument naming the field no offer matches."""
        names = [wanted] if wanted else sorted(self._providers)
        offers = [o for name in names for o in await self.get(name).offers()]
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

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
