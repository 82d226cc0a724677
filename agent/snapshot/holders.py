"""Whether the process that wrote a lock still runs: the fast path to a stale lock.

A pid alone names a process only within one pid namespace of one kernel boot, and only
until it is reused. So a lock records, besides host and pid, the kernel's boot id, the
writer's pid namespace and its start time (clock ticks after boot, /proc/<pid>/stat
field 22). A lock is declared abandoned here only when all of those match this process's
view and the pid is gone or now names another process. Whenever that cannot be told (another
machine that shares the host name, another container, another boot, no /proc), the answer
is "still running" and the TTL decides instead: removing a live lock is what could let a
prune delete data a create is still writing, so doubt keeps the lock.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
STAT_STATE_FIELD = 3
STAT_START_TIME_FIELD = 22


@dataclass(frozen=True)
class Here:
    """Where pids of this process are comparable: one host name, boot and pid namespace."""

    host: str
    boot_id: str  # "" where the kernel does not say (not Linux)
    pid_namespace: str  # "" likewise


@functools.cache
def here() -> Here:
    """This process's view; the boot and namespace do not change while it runs."""
    return Here(socket.gethostname(), _boot_id(), _pid_namespace())


def start_ticks(pid: int) -> int:
    """The process's start time in clock ticks after boot; 0 where it cannot be read."""
    fields = _stat_fields(pid)
    return int(fields[STAT_START_TIME_FIELD]) if fields else 0


def gone(pid: int, started: int, boot_id: str, pid_namespace: str) -> bool:
    """True when the process a lock names provably no longer runs (see the module's text).

    The caller has checked the host name; `started`, `boot_id` and `pid_namespace` are ""
    or 0 in records written before they were recorded, and then only the pid is checked.
    """
    mine = here()
    if boot_id and boot_id != mine.boot_id:
        return False  # rebooted since, or another machine of the same name: the TTL decides
    if pid_namespace and pid_namespace != mine.pid_namespace:
        return False  # another container's pids mean nothing here
    if pid <= 0:
        return True  # no process has such a pid (and kill(0 or -1) would signal many)
    return not _running(pid, started)


def _running(pid: int, started: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists: another user's
    fields = _stat_fields(pid)
    if fields is None:
        return True  # hidden (hidepid) or no /proc: it exists, assume it is the holder
    if fields[STAT_STATE_FIELD] in ("Z", "X"):
        return False  # killed, not yet reaped: holds nothing
    return not started or int(fields[STAT_START_TIME_FIELD]) == started


def _stat_fields(pid: int) -> dict[int, str] | None:
    """/proc/<pid>/stat by field number (1-based, as proc(5) numbers them), or None."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 2 is the command name in parentheses and may itself hold spaces and ")".
    head, _, tail = text.rpartition(")")
    if not head:
        return None
    rest = tail.split()
    if len(rest) < STAT_START_TIME_FIELD - 2:
        return None
    return {number: value for number, value in enumerate(rest, start=STAT_STATE_FIELD)}


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return str((PROC / "self/ns/pid").readlink())
    except OSError:
        return ""
