"""The installed torpor version, reported in Hello and Welcome."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def torpor_version() -> str:
    try:
        return version("torpor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
