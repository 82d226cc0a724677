"""torporctl's exit-code contract, where no server is needed to decide it."""

from __future__ import annotations

from pathlib import Path

import pytest

from torpor.ctl.cli import main
from torpor.ctl.client import EXIT_UNREACHABLE, EXIT_USAGE

pytestmark = pytest.mark.unit


def test_no_token_is_a_usage_error_saying_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TORPOR_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("TORPOR_ADMIN_TOKEN_FILE", raising=False)
    assert main(["hosts"]) == EXIT_USAGE
    assert "admin-tokens create" in capsys.readouterr().err


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["frobnicate"])
    assert stopped.value.code == 2


def test_unreachable_server_exits_3_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["--server", "127.0.0.1:1", "--token", "tat_x.y", "--timeout", "2", "hosts"])
        == EXIT_UNREACHABLE
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the control plane at 127.0.0.1:1" in err


def test_token_file_is_read(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--token-file", "/nonexistent/token", "hosts"]) == EXIT_USAGE
    assert "cannot read the admin token file" in capsys.readouterr().err


def test_tls_flags_are_checked_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--token", "tat_x.y", "--cert", str(tmp_path / "c.pem"), "hosts"]) == EXIT_USAGE
    assert "pass --cert and --key together" in capsys.readouterr().err
    assert main(["--token", "tat_x.y", "--ca", str(tmp_path / "missing.pem"), "hosts"]) == (
        EXIT_USAGE
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read a TLS file" in err
