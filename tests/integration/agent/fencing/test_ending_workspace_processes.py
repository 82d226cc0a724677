"""Ending the workspace's processes (the fence), with real processes: one that exits on
SIGTERM but whose parent has not reaped it yet (a zombie) has ended — no grace period is
waited out for it and no "ignored SIGTERM: killing it" line is logged; one that does ignore
SIGTERM is killed after the grace."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from torpor.agent.fencing.stop_work import end_workspace_processes, has_ended

pytestmark = pytest.mark.integration
GRACE_S = 3.0

# A parent outside the workspace that starts a worker inside it and never reaps it: when
# the worker dies it stays a zombie for as long as this parent lives.
NEGLECTFUL_PARENT = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "600"], cwd=sys.argv[1])
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "workspace").mkdir()
    return tmp_path / "workspace"


@pytest.fixture
def neglected(workspace: Path, tmp_path: Path) -> Iterator[int]:
    """The pid of a worker in the workspace whose parent never waits for it."""
    parent = subprocess.Popen(
        [sys.executable, "-c", NEGLECTFUL_PARENT, str(workspace)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    yield int(parent.stdout.readline())
    parent.kill()
    parent.wait()


def test_an_exited_unreaped_worker_is_not_waited_for(
    workspace: Path, neglected: int, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        ended = end_workspace_processes(workspace, GRACE_S)
    assert ended == [neglected]
    assert time.monotonic() - started < GRACE_S / 2  # it exited on SIGTERM at once
    assert psutil.Process(neglected).status() == psutil.STATUS_ZOMBIE  # its parent's to reap
    assert has_ended(psutil.Process(neglected))
    assert "ignored SIGTERM" not in caplog.text


def test_a_zombie_is_not_found_as_working_in_the_workspace(workspace: Path, neglected: int) -> None:
    end_workspace_processes(workspace, GRACE_S)
    assert end_workspace_processes(workspace, GRACE_S) == []  # nothing left to end


def test_an_own_exited_child_is_reaped(workspace: Path) -> None:
    child = subprocess.Popen(["sleep", "600"], cwd=workspace)
    assert end_workspace_processes(workspace, GRACE_S) == [child.pid]
    assert not psutil.pid_exists(child.pid)  # reaped, not left a zombie


def test_a_worker_ignoring_sigterm_is_killed_after_the_grace(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], cwd=workspace
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        ended = end_workspace_processes(workspace, 0.5)
    assert stubborn.pid in ended and time.monotonic() - started >= 0.5
    assert f"pid {stubborn.pid} ignored SIGTERM" in caplog.text
    stubborn.wait(timeout=5)
