"""The NVML double's variants for tests, built by the local provider's builder.

The library is named libnvidia-ml.so.1 with that soname, so pynvml's
`CDLL("libnvidia-ml.so.1")` finds it either through LD_LIBRARY_PATH (a subprocess) or,
in this process, because a library of that soname is already loaded (`preload`).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

from torpor.controlplane.providers.local.nvml import LIBRARY_NAME, SOURCE, build_nvml_double

__all__ = ["CACHE", "LIBRARY_NAME", "SOURCE", "VARIANTS", "build", "preload"]

VARIANTS: dict[str, tuple[str, ...]] = {
    "current": (),
    "no_v3": ("-DNO_V3",),  # a driver before the _v3 process calls and memory v2
    "v1_only": ("-DNO_V3", "-DNO_V2"),  # only the unversioned process calls
}
CACHE = Path(os.environ.get("TORPOR_TEST_CACHE", Path(tempfile.gettempdir()) / "torpor-test-cache"))


def build(variant: str = "current") -> Path:
    """The folder holding libnvidia-ml.so.1 of `variant`, compiled once per source change."""
    return build_nvml_double(CACHE, VARIANTS[variant], prefix=f"nvml-{variant}")


def preload(variant: str = "current") -> ctypes.CDLL:
    """Loads the double into this process, so pynvml's dlopen by name returns it."""
    return ctypes.CDLL(str(build(variant) / LIBRARY_NAME), mode=ctypes.RTLD_GLOBAL)
