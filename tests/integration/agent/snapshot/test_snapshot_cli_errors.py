"""A failing `torpor-agent snapshot …` says what to do in one line, never with a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.trees import make_tree

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).parent / "torpor-agent")
NO_DAC_CAPS = "-dac_override,-dac_read_search"
"""Root without these capabilities is held to file modes like anyone else."""


def agent(tmp_path: Path, *args: str, as_user: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs the console script with a config whose state lives under `tmp_path`.

    `as_user`: where the tests run as root, drop the capabilities that bypass file modes
    (a permission test would otherwise pass for the wrong reason).
    """
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    command = [AGENT, "snapshot", "--config", str(config), *args]
    if as_user and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        command = [setpriv, "--bounding-set", NO_DAC_CAPS, "--inh-caps", NO_DAC_CAPS, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit status 1 and exactly one line on stderr, holding each of `expected`."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == 1, result.stderr
    assert lines[0].startswith("torpor-agent: ")
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.fixture
def repository(tmp_path: Path) -> str:
    """A repository holding one snapshot of a small tree."""
    repo = tmp_path / "repo"
    created = agent(
        tmp_path,
        "--repository",
        str(repo),
        "--workspace",
        str(make_tree(tmp_path / "src")),
        "create",
    )
    assert created.returncode == 0, created.stderr
    return str(repo)


def test_a_restore_target_that_is_a_regular_file(tmp_path: Path, repository: str) -> None:
    target = tmp_path / "target"
    target.write_text("in the way\n")
    result = agent(
        tmp_path, "--repository", repository, "restore", "latest", "--target", str(target)
    )
    assert_one_line(result, str(target))
    assert target.read_text() == "in the way\n"


def test_a_restore_target_below_a_regular_file(tmp_path: Path, repository: str) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "below"
    result = agent(
        tmp_path, "--repository", repository, "restore", "latest", "--target", str(target)
    )
    assert_one_line(result, str(target.parent))


@pytest.mark.parametrize("target", ["/proc/self/torpor-x", "/proc/sys/kernel/torpor-x"])
def test_a_restore_target_under_proc(tmp_path: Path, repository: str, target: str) -> None:
    result = agent(tmp_path, "--repository", repository, "restore", "latest", "--target", target)
    assert_one_line(result, target)


def test_a_restore_target_that_may_not_be_written(tmp_path: Path, repository: str) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o555)
    target = closed / "target"
    result = agent(
        tmp_path,
        "--repository",
        repository,
        "restore",
        "latest",
        "--target",
        str(target),
        as_user=True,
    )
    assert_one_line(result, str(target))


def test_create_of_a_missing_workspace(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = agent(
        tmp_path, "--repository", str(tmp_path / "repo"), "--workspace", str(missing), "create"
    )
    assert_one_line(result, str(missing))
    assert not (tmp_path / "repo").exists()  # checked before anything is written


@pytest.mark.parametrize("where", ["workspace", "subdirectory"])
def test_create_of_an_unreadable_workspace(tmp_path: Path, where: str) -> None:
    workspace = make_tree(tmp_path / "src")
    closed = workspace if where == "workspace" else workspace / "closed"
    closed.mkdir(exist_ok=True)
    closed.chmod(0)
    try:
        result = agent(
            tmp_path,
            "--repository",
            str(tmp_path / "repo"),
            "--workspace",
            str(workspace),
            "create",
            as_user=True,
        )
    finally:
        closed.chmod(0o755)
    assert_one_line(result, str(closed), "Permission denied", "ownership")


def test_a_repository_path_that_is_a_regular_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.write_text("not a directory\n")
    listed = agent(tmp_path, "--repository", str(repo), "list")
    assert_one_line(listed, str(repo))
    workspace = make_tree(tmp_path / "src")
    created = agent(tmp_path, "--repository", str(repo), "--workspace", str(workspace), "create")
    assert_one_line(created, str(repo), "not a directory")


@pytest.mark.parametrize("config", [b"garbage", b'{"version": "one"}', b"\xff" * 100])
def test_a_corrupt_config_object(tmp_path: Path, repository: str, config: bytes) -> None:
    (Path(repository) / "config").write_bytes(config)
    for command in (["list"], ["restore", "latest", "--target", str(tmp_path / "dst")]):
        assert_one_line(agent(tmp_path, "--repository", repository, *command))


def test_debug_adds_the_traceback(tmp_path: Path, repository: str) -> None:
    target = tmp_path / "target"
    target.write_text("")
    config = tmp_path / "agent.toml"
    result = subprocess.run(
        [
            AGENT,
            "snapshot",
            "--config",
            str(config),
            "--repository",
            repository,
            "restore",
            "latest",
            "--target",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TORPOR_DEBUG": "1"},
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("torpor-agent: snapshot restore: ")
