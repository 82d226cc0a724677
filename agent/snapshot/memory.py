"""Keeping the agent's memory flat while it moves gigabytes through MiB-sized buffers.

glibc raises its mmap threshold each time a large block is freed, after which pack-sized
buffers come from the heap and are never given back: a 2 GiB snapshot then peaks near
400 MB instead of under 200. A fixed threshold keeps big buffers in mmap, returned to the
system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # from <malloc.h>
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024  # keep freed chunk buffers for reuse, not re-faulted
MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024  # above the largest chunk (4 MiB), below a pack


def keep_large_buffers_in_mmap() -> None:
    """Fixes glibc's mmap threshold (a no-op on other C libraries)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    if not (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    ):
        log.debug("mallopt refused")
