"""`GpuMonitor`: the one poller of a `GpuProbe`, fanning each snapshot out to its readers.

A probe hands out every utilisation sample since its previous poll, so it must have
exactly one caller: this thread. Readers (the stream, the Prometheus endpoint, the idle
policy) take the latest snapshot or register a listener; the stream also takes the
utilisation samples gathered since its previous heartbeat. GPU events (from the probe
and the health watcher, any thread) wait in `events` until the stream sends them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable

from .model import GpuEvent, GpuProbe, GpuSnapshot

log = logging.getLogger(__name__)
Listener = Callable[[GpuSnapshot], None]
MAX_PENDING_EVENTS = 256
"""Events kept while the stream is down; the oldest go first (each is also logged)."""
MAX_KEPT_SAMPLES = 3600
"""Utilisation samples kept per GPU between two heartbeats (a stream down for long)."""


class PendingEvents:
    """A bounded, thread-safe queue of GPU events that an asyncio task can await."""

    def __init__(self, limit: int = MAX_PENDING_EVENTS) -> None:
        self._items: deque[GpuEvent] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def put(self, event: GpuEvent) -> None:
        """From any thread."""
        with self._lock:
            self._items.append(event)
            waiters, self._waiters = self._waiters, []
        for loop, ready in waiters:
            loop.call_soon_threadsafe(ready.set)

    def take(self) -> list[GpuEvent]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    def put_back(self, events: list[GpuEvent]) -> None:
        """Unsent events go back to the front, in order."""
        with self._lock:
            self._items.extendleft(reversed(events))

    async def wait(self) -> None:
        """Returns once an event is pending."""
        ready = asyncio.Event()
        with self._lock:
            if self._items:
                return
            self._waiters.append((asyncio.get_running_loop(), ready))
        await ready.wait()


class GpuMonitor:
    """Polls `probe` every `interval_s` in a daemon thread until `stop()`."""

    def __init__(self, probe: GpuProbe, interval_s: float, events: PendingEvents) -> None:
        self._probe = probe
        self._interval_s = interval_s
        self.events = events
        self._latest: GpuSnapshot | None = None
        self._utilization: dict[str, list[float]] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-monitor", daemon=True)

    def add_listener(self, listener: Listener) -> None:
        """Called in the monitor thread after every poll; must be quick."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._probe.close()

    def latest(self) -> GpuSnapshot | None:
        return self._latest

    def take_telemetry(self) -> tuple[GpuSnapshot | None, dict[str, list[float]]]:
        """The latest snapshot and every utilisation sample since the previous call."""
        with self._lock:
            utilization, self._utilization = self._utilization, {}
            return self._latest, utilization

    def poll_once(self) -> GpuSnapshot:
        snapshot = self._probe.poll()
        with self._lock:
            self._latest = snapshot
            for gpu in snapshot.gpus:
                if gpu.utilization_samples.ok and gpu.utilization_samples.value is not None:
                    kept = self._utilization.setdefault(gpu.uuid, [])
                    kept.extend(gpu.utilization_samples.value)
                    del kept[:-MAX_KEPT_SAMPLES]
        for listener in self._listeners:
            listener(snapshot)
        return snapshot

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug must not end GPU monitoring silently
                log.exception("GPU poll failed")
            self._stopping.wait(self._interval_s)
