"""Host CPU and network load between two polls, from psutil's cumulative counters.

Counters, not `psutil.cpu_percent()`: that keeps one module-wide base shared with the
telemetry probe, and two callers would each see only a slice of the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psutil

from .settings import IdleSection
from .verdict import SignalReading, busy, idle, unknown


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative counters at one instant."""

    at_s: float
    cpu_busy_s: float
    cpu_total_s: float
    net_bytes: int


def read_counters(at_s: float) -> Counters:
    """CPU time over all cores and bytes in + out over non-loopback NICs."""
    times = psutil.cpu_times()
    idle_s = times.idle + getattr(times, "iowait", 0.0)
    total_s = sum(times)
    stats = psutil.net_if_stats()
    loopback = {nic for nic, st in stats.items() if "loopback" in st.flags.split(",")} | {"lo"}
    net = sum(
        c.bytes_recv + c.bytes_sent
        for nic, c in psutil.net_io_counters(pernic=True).items()
        if nic not in loopback
    )
    return Counters(at_s, total_s - idle_s, total_s, net)


class HostSignals:
    """CPU percent and network bytes/s since the previous poll."""

    def __init__(self, read: Callable[[float], Counters] = read_counters) -> None:
        self._read = read
        self._last: Counters | None = None

    def read(self, at_s: float, settings: IdleSection) -> list[SignalReading]:
        try:
            now = self._read(at_s)
        except (psutil.Error, OSError) as error:
            self._last = None
            return [unknown("host.cpu", str(error)), unknown("host.network", str(error))]
        last, self._last = self._last, now
        if last is None or now.at_s <= last.at_s:
            why = "first reading: no counter delta yet"
            return [unknown("host.cpu", why, False), unknown("host.network", why, False)]
        return [_cpu(last, now, settings), _network(last, now, settings)]


def _cpu(last: Counters, now: Counters, settings: IdleSection) -> SignalReading:
    total = now.cpu_total_s - last.cpu_total_s
    percent = 100 * (now.cpu_busy_s - last.cpu_busy_s) / total if total > 0 else 0.0
    threshold = settings.cpu_threshold_percent
    if percent >= threshold:
        return busy("host.cpu", f"{percent:.0f}%", f"at or above {threshold:g}%")
    return idle("host.cpu", f"{percent:.0f}%")


def _network(last: Counters, now: Counters, settings: IdleSection) -> SignalReading:
    rate = max(0, now.net_bytes - last.net_bytes) / (now.at_s - last.at_s)
    threshold = settings.network_threshold_bytes_per_s
    value = f"{rate / 1000:.1f} kB/s"
    if rate >= threshold:
        return busy("host.network", value, f"at or above {threshold / 1000:g} kB/s")
    return idle("host.network", value)
