"""The local agents as processes: started in their own session, found again by command line.

A pid alone is not proof after a restart (pids are reused), so an agent is recognised by
its /proc/<pid>/cmdline naming its own config file before it is signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil

from torpor.common.processes import processes_working_in, works_in

from ...errors import Unavailable

AGENT_EXECUTABLE = "torpor-agent"
POLL_S = 0.05
KILL_WAIT_S = 10.0  # SIGKILL cannot be ignored: longer means stuck in uninterruptible sleep
_spawned: set[int] = set()  # our own children: only those are reaped (waitpid)


def agent_executable() -> Path:
    """`torpor-agent` next to this Python (the same virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / AGENT_EXECUTABLE
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(AGENT_EXECUTABLE)
    if found is None:
        raise Unavailable(
            f"{AGENT_EXECUTABLE} not found next to {sys.executable} or on PATH:"
            " install torpor in this environment (pip install torpor)"
        )
    return Path(found)


def spawn_agent(executable: Path, config: Path, log: Path, env: dict[str, str]) -> int:
    """Starts `torpor-agent run --config CONFIG` in a new session (its own process group),
    stdout and stderr appended to `log`; returns its pid."""
    argv = [str(executable), "run", "--config", str(config)]
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.close(out)
    _spawned.add(pid)
    return pid


def is_agent_of(pid: int, config: Path) -> bool:
    """True while `pid` is a live process whose command line names `config`."""
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and str(config).encode() in cmdline


def find_agent(config: Path, hint: int | None) -> int | None:
    """The pid of the agent running `config`: the recorded pid if it still is that agent,
    else any process that is (a control plane that died before recording the pid)."""
    if hint is not None and is_agent_of(hint, config):
        return hint
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_agent_of(int(entry.name), config):
            return int(entry.name)
    return None


async def stop_agent(pid: int, config: Path, timeout_s: float) -> None:
    """SIGTERM to the agent's process group, SIGKILL if it is still there after `timeout_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_agent_of(pid, config):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        await _gone(pid, config, timeout_s)


async def kill_agent(pid: int, config: Path, timeout_s: float = KILL_WAIT_S) -> None:
    """SIGKILL to the agent's whole process group at once, then waits until it is gone
    (reaped, if it is our child). For a host declared lost: a frozen (SIGSTOPped) agent
    would never act on SIGTERM, so waiting for it only delays the failover. Raises
    Unavailable if the process is still there after `timeout_s` (stuck in the kernel)."""
    if not is_agent_of(pid, config):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    await _gone(pid, config, timeout_s)
    if is_agent_of(pid, config):
        raise Unavailable(f"local agent pid {pid} survived SIGKILL for {timeout_s:g} s")


async def end_leftovers(folder: Path, timeout_s: float = KILL_WAIT_S) -> list[int]:
    """SIGKILL to every process still working in a released host's `folder` once its
    agent is gone (a workload started in a session of its own is outside the agent's
    process group), then waits for them to end: the local provider confirms releases
    (`confirms_release`), so a release must leave nothing of the host running. Returns
    the pids it found; raises Unavailable if one outlives `timeout_s`."""
    return await asyncio.to_thread(_end_leftovers, folder, timeout_s)


def _end_leftovers(folder: Path, timeout_s: float) -> list[int]:
    found = processes_working_in(folder, spared={os.getpid(), os.getppid()})
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.kill()
    _, alive = psutil.wait_procs(found, timeout=timeout_s)
    alive = [p for p in alive if works_in(p, folder.resolve())]  # zombies have ended
    if alive:
        pids = ", ".join(str(p.pid) for p in alive)
        raise Unavailable(f"processes {pids} in {folder} survived SIGKILL for {timeout_s:g} s")
    return [process.pid for process in found]


async def _gone(pid: int, config: Path, timeout_s: float) -> None:
    """Polls: the agent may not be our child, so there is nothing to wait on."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if not is_agent_of(pid, config):
            return
        await asyncio.sleep(POLL_S)


def _reap(pid: int) -> None:
    """Collects the exit status of an agent we started, so it does not linger as a zombie
    (another part of this process may own other children: those are left alone)."""
    if pid not in _spawned:
        return
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = pid
    if done == pid:
        _spawned.discard(pid)


def last_line(log: Path) -> str:
    """The log's last non-empty line, for an error message."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "the log is empty"
