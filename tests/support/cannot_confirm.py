"""A real provider seen as one that cannot confirm a release (`confirms_release` False),
the way torpor sees an operator's own machines: its hosts get the self-fence bound, and a
failover that cannot fence or release one waits that bound out. Everything else is the
wrapped provider's own (the local provider's real agents, in the tests that use it)."""

from __future__ import annotations

from typing import Any

from torpor.controlplane.providers.base import Provider
from torpor.controlplane.providers.registry import ProviderRegistry


class CannotConfirm:
    confirms_release = False

    def __init__(self, inner: Provider) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def without_confirmation(providers: ProviderRegistry, name: str = "local") -> CannotConfirm:
    """Replaces provider `name` in `providers` by its unconfirmable view; returns it."""
    wrapped = CannotConfirm(providers.get(name))
    providers.register(wrapped, default=True)  # type: ignore[arg-type]
    return wrapped
