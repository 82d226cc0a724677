"""Ending the processes that work in the workspace, found through /proc (psutil).

A process works in the workspace when its current directory or any file it holds open is
inside it. Each gets SIGTERM, then SIGKILL after a grace period. The agent itself and its
parent (systemd, a shell, a test) are never touched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

KILL_WAIT_S = 2.0


def _inside(path: str, workspace: Path) -> bool:
    return Path(path).is_relative_to(workspace)


def _works_in(process: psutil.Process, workspace: Path) -> bool:
    try:
        if _inside(process.cwd(), workspace):
            return True
        return any(_inside(opened.path, workspace) for opened in process.open_files())
    except (psutil.Error, OSError):  # gone, or not ours to inspect
        return False


def workspace_processes(workspace: Path) -> list[psutil.Process]:
    """The processes working in `workspace`, except this one and its parent."""
    spared = {os.getpid(), os.getppid()}
    root = workspace.resolve()
    return [
        process
        for process in psutil.process_iter()
        if process.pid not in spared and _works_in(process, root)
    ]


def end_workspace_processes(workspace: Path, grace_s: float) -> list[int]:
    """SIGTERM to each, SIGKILL to those alive after `grace_s`; returns the pids found."""
    found = workspace_processes(workspace)
    for process in found:
        _signal(process, kill=False)
    _, alive = psutil.wait_procs(found, timeout=grace_s)
    for process in alive:
        log.warning("pid %d ignored SIGTERM for %g s: killing it", process.pid, grace_s)
        _signal(process, kill=True)
    psutil.wait_procs(alive, timeout=KILL_WAIT_S)
    return [process.pid for process in found]


def _signal(process: psutil.Process, *, kill: bool) -> None:
    try:
        process.kill() if kill else process.terminate()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        log.error("cannot signal pid %d working in the workspace: permission denied", process.pid)
