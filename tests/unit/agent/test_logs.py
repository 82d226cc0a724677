"""Log lines: one per event, text or JSON."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from torpor.agent.config import LogSection
from torpor.agent.logs import configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSection(level="info", format="json"))
    logging.getLogger("torpor.agent.test").info("stream down (%s)", "UNAVAILABLE")
    logging.getLogger("torpor.agent.test").debug("not shown at info")
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["logger"] == "torpor.agent.test"
    assert entry["message"] == "stream down (UNAVAILABLE)"
    assert "time" in entry


def test_text_lines_and_no_duplicates(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSection(level="debug", format="text"))
    configure_logging(LogSection(level="debug", format="text"))
    logging.getLogger("torpor.agent.test").debug("once")
    assert capsys.readouterr().err == "DEBUG torpor.agent.test: once\n"


def test_lines_to_the_journal_carry_their_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w+") as stream:
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        configure_logging(LogSection(level="info", format="json"), stream)
        logging.getLogger("torpor.agent.test").warning("disk almost full")
        logging.getLogger("torpor.agent.test").info("connected")
        stream.seek(0)
        warning, info = stream.read().splitlines()
    assert warning.startswith("<4>{") and json.loads(warning[3:])["message"] == "disk almost full"
    assert info.startswith("<6>{")


def test_no_priority_prefix_when_stderr_is_not_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # inherited, but stderr was redirected
    with (tmp_path / "log").open("w+") as stream:
        configure_logging(LogSection(level="info", format="text"), stream)
        logging.getLogger("torpor.agent.test").info("connected")
        stream.seek(0)
        assert stream.read() == "INFO torpor.agent.test: connected\n"
