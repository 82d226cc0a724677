"""Every failure of a command that ends is one line on stderr saying what to do, and exit 1."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from torpor.agent import error_lines
from torpor.agent.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.EACCES, "ownership"),
        (errno.EPERM, "ownership"),
        (errno.ENOSPC, "free space"),
        (errno.EROFS, "read-only"),
        (errno.ENOTDIR, "choose another target"),
        (errno.EEXIST, "choose another target"),
    ],
)
def test_an_os_error_names_operation_path_reason_and_fix(code: int, hint: str) -> None:
    error = OSError(code, os.strerror(code), "/srv/restore")
    line = error_lines.os_error_line("snapshot restore", error)
    assert line.startswith(f"torpor-agent: snapshot restore: /srv/restore: {os.strerror(code)}; ")
    assert hint in line


def test_an_os_error_without_path_or_known_errno_is_still_one_line() -> None:
    assert (
        error_lines.os_error_line("status", OSError("it\nbroke"))
        == "torpor-agent: status: it broke"
    )
    renamed = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert "/a -> /b: Invalid cross-device link" in error_lines.os_error_line("x", renamed)


def fail_with(error: BaseException) -> int:
    raise error


def test_reported_turns_failures_into_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(error_lines.DEBUG_ENV, raising=False)
    status = error_lines.reported("snapshot create", lambda: fail_with(ValueError("bad\nvalue")))
    assert status == 1
    assert capsys.readouterr().err == (
        "torpor-agent: internal error: ValueError: bad value;"
        " run with TORPOR_DEBUG=1 for the traceback\n"
    )
    disk_full = OSError(errno.ENOSPC, "No space left on device", "/repo/data/ab")
    assert error_lines.reported("snapshot create", lambda: fail_with(disk_full)) == 1
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(KeyboardInterrupt):
        error_lines.reported("x", lambda: fail_with(KeyboardInterrupt()))


def test_debug_prints_the_traceback_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(error_lines.DEBUG_ENV, "1")
    assert error_lines.reported("x", lambda: fail_with(RuntimeError("boom"))) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.splitlines()[-1].startswith("torpor-agent: ")


@pytest.mark.parametrize(
    ("value", "on"), [("", False), ("0", False), ("false", False), ("1", True)]
)
def test_the_debug_switch(value: str, on: bool) -> None:
    assert error_lines.debug_enabled({error_lines.DEBUG_ENV: value}) is on


def test_inhibit_with_a_state_dir_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.write_text("")
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{state}"\n')
    assert main(["inhibit", "--for", "1h", "--why", "eval", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("torpor-agent: inhibit: ") and err.count("\n") == 1
    assert str(state) in err


def test_a_config_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "agent.toml"
    config.write_bytes(b"\xff\xfe[agent]\n")
    assert main(["status", "--config", str(config)]) == 78
    assert "not UTF-8" in capsys.readouterr().err


def test_a_file_descriptor_or_bytes_path_is_shown_as_text() -> None:
    assert ": 7: Bad file descriptor" in error_lines.os_error_line(
        "x", OSError(9, "Bad file descriptor", 7)
    )
    assert ": /b\udcff: " in error_lines.os_error_line("x", OSError(2, "No such file", b"/b\xff"))
