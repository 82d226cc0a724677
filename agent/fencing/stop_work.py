"""Ending the processes that work in the workspace, found through /proc (psutil).

A process works in the workspace when its current directory or any file it holds open is
inside it. Each gets SIGTERM, then SIGKILL after a grace period. The agent itself and its
parent (systemd, a shell, a test) are never touched.

An exited process whose parent has not reaped it yet (a zombie) has stopped working: it
holds no files and runs no code. It counts as ended the moment it exits — otherwise every
workload whose parent is slow to `wait()` would look as if it ignored SIGTERM, costing the
whole grace period and a misleading "killing it" line. The agent reaps those that are its
own children.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import psutil

from torpor.common.processes import processes_working_in

log = logging.getLogger(__name__)

KILL_WAIT_S = 2.0
POLL_S = 0.05


def workspace_processes(workspace: Path) -> list[psutil.Process]:
    """The live processes working in `workspace`, except this one and its parent."""
    return processes_working_in(workspace, spared={os.getpid(), os.getppid()})


def has_ended(process: psutil.Process) -> bool:
    """Gone, or exited and waiting to be reaped (a zombie: reaped here when it is ours)."""
    try:
        if process.status() != psutil.STATUS_ZOMBIE:
            return not process.is_running()
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError, OSError):  # not our child: its parent reaps
        os.waitpid(process.pid, os.WNOHANG)
    return True


def wait_ended(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Waits up to `timeout_s` for every process to end; returns those still alive."""
    deadline = time.monotonic() + timeout_s
    alive = [process for process in processes if not has_ended(process)]
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_S)
        alive = [process for process in alive if not has_ended(process)]
    return alive


def end_workspace_processes(workspace: Path, grace_s: float) -> list[int]:
    """SIGTERM to each, SIGKILL to those alive after `grace_s`; returns the pids found."""
    found = workspace_processes(workspace)
    for process in found:
        _signal(process, kill=False)
    alive = wait_ended(found, grace_s)
    for process in alive:
        log.warning("pid %d ignored SIGTERM for %g s: killing it", process.pid, grace_s)
        _signal(process, kill=True)
    for process in wait_ended(alive, KILL_WAIT_S):
        log.error("pid %d survived SIGKILL (stuck in the kernel?)", process.pid)
    return [process.pid for process in found]


def _signal(process: psutil.Process, *, kill: bool) -> None:
    try:
        process.kill() if kill else process.terminate()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        log.error("cannot signal pid %d working in the workspace: permission denied", process.pid)
