"""Progress of long operations: counters shared by the workers, shown by one reporter.

On a terminal the reporter redraws one line (files, bytes, rate, ETA); otherwise it logs
a structured line every LOG_INTERVAL_S; when the agent is connected, the same numbers go
to the control plane through `listeners`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

log = logging.getLogger(__name__)

TTY_INTERVAL_S = 0.25
LOG_INTERVAL_S = 10.0


@dataclass
class Progress:
    """Counters of one operation; `add` is safe from any thread."""

    operation: str
    total_files: int = 0
    total_bytes: int = 0
    files: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes

    def set_totals(self, files: int, nbytes: int) -> None:
        with self._lock:
            self.total_files, self.total_bytes = files, nbytes

    def fields(self) -> dict[str, str]:
        """The numbers as strings (log fields and stream event attributes)."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes / elapsed
        left = self.total_bytes - self.bytes
        eta = left / rate if rate > 0 and left > 0 else 0.0
        return {
            "operation": self.operation,
            "files": str(self.files),
            "total_files": str(self.total_files),
            "bytes": str(self.bytes),
            "total_bytes": str(self.total_bytes),
            "rate_bytes_per_s": str(int(rate)),
            "eta_s": f"{eta:.0f}",
            "elapsed_s": f"{elapsed:.1f}",
        }

    def line(self) -> str:
        f = self.fields()
        pct = 100 * self.bytes / self.total_bytes if self.total_bytes else 100.0
        return (
            f"{self.operation}: {pct:5.1f}%  {self.files}/{self.total_files} files  "
            f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}  "
            f"{human_bytes(int(f['rate_bytes_per_s']))}/s  ETA {human_duration(float(f['eta_s']))}"
        )


Listener = Callable[[Progress], None]


class Reporter:
    """Shows a Progress while an operation runs (a thread; `with Reporter(...)`)."""

    def __init__(
        self,
        progress: Progress,
        stream: TextIO | None = None,
        listeners: list[Listener] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self._progress = progress
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._listeners = listeners or []
        self._interval = interval_s or (TTY_INTERVAL_S if self._tty else LOG_INTERVAL_S)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._emit(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._emit(final=False)

    def _emit(self, *, final: bool) -> None:
        if self._tty:
            end = "\n" if final else ""
            self._stream.write(f"\r\x1b[K{self._progress.line()}{end}")
            self._stream.flush()
        elif not final:
            fields = " ".join(f"{k}={v}" for k, v in self._progress.fields().items())
            log.info("progress %s", fields)
        for listener in self._listeners:
            try:
                listener(self._progress)
            except Exception:  # a listener must never break the operation
                log.exception("progress listener failed")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
