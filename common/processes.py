"""Finding the processes that work in a folder, through /proc (psutil).

A process works in a folder when its current directory or any file it holds open is
inside it. The agent's fence ends those in the workspace; the local provider's release
ends those left in a host's folder once its agent is gone (a workload started in its own
session outlives the agent's process group), so a confirmed release leaves nothing
running. An exited process waiting to be reaped (a zombie) works nowhere: it holds no
files and runs no code.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import psutil


def _inside(path: str, folder: Path) -> bool:
    return Path(path).is_relative_to(folder)


def works_in(process: psutil.Process, folder: Path) -> bool:
    """Whether `process` (alive, not a zombie) has its cwd or an open file in `folder`
    (resolved); False for one gone or not ours to inspect."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return False  # exited: nothing left to stop
        if _inside(process.cwd(), folder):
            return True
        return any(_inside(opened.path, folder) for opened in process.open_files())
    except (psutil.Error, OSError):
        return False


def processes_working_in(folder: Path, spared: Collection[int] = ()) -> list[psutil.Process]:
    """The live processes working in `folder`, except the pids in `spared`."""
    root = folder.resolve()
    return [
        process
        for process in psutil.process_iter()
        if process.pid not in spared and works_in(process, root)
    ]
