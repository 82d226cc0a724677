"""Host-level load through psutil, and the host facts sent once in Hello."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from torpor.proto.v1 import common_pb2


@dataclass(frozen=True)
class _NetSample:
    at_s: float
    rx_bytes: int
    tx_bytes: int


class HostProbe:
    """Samples CPU, memory, disk and network; rates are since the previous sample."""

    def __init__(self, disk_path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._disk_path = disk_path
        self._clock = clock
        psutil.cpu_percent(interval=None)  # primes the counter: the first sample has a base
        self._last_net = self._net_sample()

    def sample(self) -> common_pb2.HostTelemetry:
        """One reading; never blocks on CPU measurement (the interval is between calls)."""
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self._disk_path))
        net = self._net_sample()
        rx_rate, tx_rate = _rates(self._last_net, net)
        self._last_net = net
        return common_pb2.HostTelemetry(
            cpu_percent=psutil.cpu_percent(interval=None),
            cpu_count=psutil.cpu_count(logical=True) or 0,
            load1=psutil.getloadavg()[0],
            memory_total_bytes=memory.total,
            memory_used_bytes=memory.used,
            memory_available_bytes=memory.available,
            disk_path=str(self._disk_path),
            disk_total_bytes=disk.total,
            disk_used_bytes=disk.used,
            disk_free_bytes=disk.free,
            net_rx_bytes=net.rx_bytes,
            net_tx_bytes=net.tx_bytes,
            net_rx_bytes_per_s=rx_rate,
            net_tx_bytes_per_s=tx_rate,
            uptime_s=max(0.0, time.time() - psutil.boot_time()),
        )

    def _net_sample(self) -> _NetSample:
        """Counters summed over non-loopback NICs: loopback traffic is not the host's load."""
        loopback = _loopback_nics()
        rx = tx = 0
        for nic, counters in psutil.net_io_counters(pernic=True).items():
            if nic not in loopback:
                rx += counters.bytes_recv
                tx += counters.bytes_sent
        return _NetSample(self._clock(), rx, tx)


def _loopback_nics() -> set[str]:
    stats = psutil.net_if_stats()
    return {nic for nic, stat in stats.items() if "loopback" in stat.flags.split(",")} | {"lo"}


def _rates(before: _NetSample, after: _NetSample) -> tuple[float, float]:
    """Bytes per second; a counter that went backwards (a NIC removed) counts as zero."""
    elapsed = after.at_s - before.at_s
    if elapsed <= 0:
        return 0.0, 0.0
    rx = max(0, after.rx_bytes - before.rx_bytes) / elapsed
    tx = max(0, after.tx_bytes - before.tx_bytes) / elapsed
    return rx, tx


def boot_time() -> datetime:
    """When the host booted (Hello.booted_at): tells a reboot apart from a reconnect."""
    return datetime.fromtimestamp(psutil.boot_time(), UTC)


def os_description() -> str:
    """e.g. "Linux 6.1.0-18-amd64" (Hello.os)."""
    return f"{platform.system()} {platform.release()}"
