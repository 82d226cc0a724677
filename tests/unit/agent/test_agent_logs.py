"""Log lines: one per event, text or JSON."""

from __future__ import annotations

import json
import logging

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
