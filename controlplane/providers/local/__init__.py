"""The `local` provider: hosts as `torpor-agent` processes on this machine."""

from .provider import LocalProvider, LocalSettings

__all__ = ["LocalProvider", "LocalSettings"]
