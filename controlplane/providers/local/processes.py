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

from ...errors import Unavailable

AGENT_EXECUTABLE = "torpor-agent"
POLL_S = 0.05
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
