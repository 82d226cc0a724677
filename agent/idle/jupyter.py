"""Jupyter servers on this host, found from their runtime files, asked over their REST API.

A kernel that holds a GPU but has run nothing for the whole window is the most common
waste (the forgotten notebook), so kernels are matched to GPU processes: the process
signal then follows the kernel's own activity instead of the context it holds.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any

import psutil

from .gpu_signals import KernelActivity
from .verdict import SignalReading, busy, idle, unknown

NAME = "sessions.jupyter"
REQUEST_TIMEOUT_S = 2.0
BUSY_STATES = frozenset({"busy", "starting"})
_KERNEL_FILE = re.compile(r"kernel-([0-9A-Za-z-]+)\.json")


@dataclass(frozen=True)
class JupyterServer:
    """What a `jpserver-*.json` runtime file says."""

    url: str
    token: str
    pid: int | None


@dataclass(frozen=True)
class JupyterState:
    reading: SignalReading
    kernels: dict[str, KernelActivity]


def default_runtime_dirs() -> list[Path]:
    """Every user's default runtime directory (the agent runs as root)."""
    homes = [Path("/root"), *Path("/home").glob("*")]
    return [home / ".local/share/jupyter/runtime" for home in homes]


def find_servers(runtime_dirs: Iterable[Path]) -> list[JupyterServer]:
    """Servers whose runtime file names a live process (a crashed server leaves its file)."""
    found = []
    for directory in runtime_dirs:
        for path in sorted(directory.glob("jpserver-*.json")):
            try:
                raw = json.loads(path.read_text())
                server = JupyterServer(str(raw["url"]), str(raw.get("token", "")), raw.get("pid"))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-written or foreign: the server rewrites it
            if server.pid is None or psutil.pid_exists(server.pid):
                found.append(server)
    return found


def fetch_kernels(server: JupyterServer) -> list[dict[str, Any]]:
    """`GET /api/kernels`. Raises OSError or ValueError when the server cannot answer."""
    url = server.url.rstrip("/") + "/api/kernels"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP server: {server.url}")
    headers = {"Authorization": f"token {server.token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked above)
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:  # noqa: S310
        kernels = json.load(response)
    if not isinstance(kernels, list):
        raise ValueError("unexpected /api/kernels answer")
    return kernels


def _activity(kernel: dict[str, Any]) -> KernelActivity:
    last = kernel.get("last_activity")
    last_wall = datetime.fromisoformat(last).timestamp() if isinstance(last, str) else None
    return KernelActivity(
        str(kernel["id"]), kernel.get("execution_state") in BUSY_STATES, last_wall
    )


class JupyterSignal:
    """One reading for every kernel of every server found, plus the kernels by id."""

    def __init__(
        self,
        servers: Callable[[], list[JupyterServer]],
        fetch: Callable[[JupyterServer], list[dict[str, Any]]] = fetch_kernels,
    ) -> None:
        self._servers = servers
        self._fetch = fetch

    def read(self) -> JupyterState:
        kernels: dict[str, KernelActivity] = {}
        for server in self._servers():
            try:
                for raw in self._fetch(server):
                    activity = _activity(raw)
                    kernels[activity.kernel_id] = activity
            except (OSError, ValueError, KeyError, TypeError, HTTPException) as error:
                reading = unknown(NAME, f"Jupyter server {server.url} cannot be asked: {error}")
                return JupyterState(reading, {})
        return JupyterState(_reading(kernels), kernels)


def _reading(kernels: dict[str, KernelActivity]) -> SignalReading:
    if not kernels:
        return idle(NAME, "no kernels")
    running = [k.kernel_id for k in kernels.values() if k.busy]
    value = f"{len(kernels)} kernels, {len(running)} busy"
    if running:
        return busy(NAME, value, f"kernel {running[0]} is executing")
    latest = max((k.last_active_wall or 0.0 for k in kernels.values()), default=0.0)
    return idle(NAME, value, last_active_wall=latest or None)


def kernel_of_pid(pid: int) -> str | None:
    """The kernel id a process runs (its command line names `kernel-<id>.json`), or None."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    for argument in cmdline:
        match = _KERNEL_FILE.search(argument)
        if match:
            return match.group(1)
    return None
