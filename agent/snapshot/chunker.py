"""Cutting a file into content-defined chunks (FastCDC 2020, compiled, via `pyfastcdc`).

Content-defined boundaries are what make a change inside a 10 GB checkpoint cost a few
chunks instead of the whole file. Files are read with plain `read()`, never mmap: a user
process truncating a file we have mapped would kill the agent with SIGBUS.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

from pyfastcdc import FastCDC

from .format import ChunkerParams

READ_BLOCK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Region:
    """A byte range of a file holding data (a whole dense file is one region)."""

    offset: int
    length: int


class _RegionReader:
    """`readinto` over one region of an open file, so FastCDC can stream it."""

    def __init__(self, fd: int, region: Region) -> None:
        self._fd = fd
        self._position = region.offset
        self._end = region.offset + region.length

    def readinto(self, buffer: memoryview) -> int:
        want = min(len(buffer), self._end - self._position)
        if want <= 0:
            return 0
        got = os.preadv(self._fd, [buffer[:want]], self._position)  # straight into FastCDC's buffer
        self._position += got
        return got


class Chunker:
    """Yields `(offset, plaintext)` chunks of a region; the data is valid until the next one."""

    def __init__(self, params: ChunkerParams) -> None:
        self._params = params

    def chunks(self, fd: int, region: Region) -> Iterator[tuple[int, memoryview | bytes]]:
        if region.length <= self._params.min_size:  # one chunk: skip the chunker's set-up
            data = os.pread(fd, region.length, region.offset)
            if data:
                yield region.offset, data
            return
        fastcdc = FastCDC(
            self._params.avg_size,
            min_size=self._params.min_size,
            max_size=self._params.max_size,
            normalized_chunking=self._params.normalization,  # type: ignore[arg-type]
            seed=self._params.seed,
        )
        for chunk in fastcdc.cut_stream(_RegionReader(fd, region)):
            yield region.offset + chunk.offset, chunk.data


def data_regions(fd: int, size: int, sparse: bool) -> list[Region]:
    """The file's data regions: found with SEEK_DATA/SEEK_HOLE for a sparse file."""
    if size == 0:
        return []
    if not sparse:
        return [Region(0, size)]
    regions: list[Region] = []
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole remains
                break
            return [Region(0, size)]  # the filesystem cannot tell: read it all
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        regions.append(Region(start, end - start))
        position = end
    return regions
