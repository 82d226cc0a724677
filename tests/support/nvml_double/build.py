"""Compiles fake_nvml.c with gcc into a cache keyed by the source's hash and the variant.

The library is named libnvidia-ml.so.1 with that soname, so pynvml's
`CDLL("libnvidia-ml.so.1")` finds it either through LD_LIBRARY_PATH (a subprocess) or,
in this process, because a library of that soname is already loaded (`preload`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")
LIBRARY_NAME = "libnvidia-ml.so.1"
VARIANTS: dict[str, tuple[str, ...]] = {
    "current": (),
    "no_v3": ("-DNO_V3",),  # a driver before the _v3 process calls and memory v2
    "v1_only": ("-DNO_V3", "-DNO_V2"),  # only the unversioned process calls
}
CACHE = Path(os.environ.get("TORPOR_TEST_CACHE", Path(tempfile.gettempdir()) / "torpor-test-cache"))


def build(variant: str = "current") -> Path:
    """The folder holding libnvidia-ml.so.1 of `variant`, compiled once per source change."""
    flags = VARIANTS[variant]
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    folder = CACHE / f"nvml-{variant}-{digest}"
    library = folder / LIBRARY_NAME
    if library.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{LIBRARY_NAME}.{os.getpid()}.tmp"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            "-Wall",
            "-Werror",
            "-pthread",
            f"-Wl,-soname,{LIBRARY_NAME}",
            *flags,
            "-o",
            str(partial),
            str(SOURCE),
        ],
        check=True,
    )
    partial.replace(library)  # rename: a parallel build never sees half a library
    return folder


def preload(variant: str = "current") -> ctypes.CDLL:
    """Loads the double into this process, so pynvml's dlopen by name returns it."""
    return ctypes.CDLL(str(build(variant) / LIBRARY_NAME), mode=ctypes.RTLD_GLOBAL)
