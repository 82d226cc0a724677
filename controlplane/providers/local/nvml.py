"""Builds the NVML double (fake_nvml.c, a GPU-less libnvidia-ml.so.1) with gcc.

The local provider's hosts read simulated GPUs through the real pynvml: the agent loads
this library through LD_LIBRARY_PATH. Built once per source and flags, into a folder named
by their hash, so a source change rebuilds and parallel builds never see half a library.
The tests build their variants with the same function.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")
LIBRARY_NAME = "libnvidia-ml.so.1"
SCENARIO_ENV = "TORPOR_FAKE_NVML_SCENARIO"
GCC_TIMEOUT_S = 120


class NvmlBuildError(Exception):
    """The double cannot be built here (no gcc, or gcc failed); `str()` is one line."""


def build_nvml_double(cache: Path, flags: Sequence[str] = (), prefix: str = "nvml") -> Path:
    """The folder holding libnvidia-ml.so.1 built from SOURCE with `flags` (cached)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    folder = cache / f"{prefix}-{digest}"
    library = folder / LIBRARY_NAME
    if library.exists():
        return folder
    gcc = shutil.which("gcc")
    if gcc is None:
        raise NvmlBuildError("gcc not found (install gcc to simulate GPUs)")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{LIBRARY_NAME}.{os.getpid()}.tmp"
    argv = [gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-pthread"]
    argv += [f"-Wl,-soname,{LIBRARY_NAME}", *flags, "-o", str(partial), str(SOURCE)]
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=GCC_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as error:
        stderr = getattr(error, "stderr", b"") or b""
        detail = stderr.decode(errors="replace").strip().splitlines()
        raise NvmlBuildError(
            f"building the NVML double failed: {detail[-1] if detail else error}"
        ) from error
    partial.replace(library)  # rename: a parallel build never sees half a library
    return folder
