"""Logging to stderr, one line per event: journald stores it, and adds the timestamps.

`json` format gives one JSON object per line for log shippers. Tracebacks appear only for
unexpected errors; expected ones (a lost stream, a refused token) are logged as one line.

Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names its device and
inode), each line starts with a `<N>` syslog priority: journald strips it and stores it as
PRIORITY=, so `journalctl -u torpor-agent -p warning` filters by level.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from .config import LogSection

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
CHATTY_LIBRARIES = ("boto3", "botocore", "s3transfer", "urllib3")
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and a traceback if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class JournalPriority(logging.Formatter):
    """Prefixes another formatter's line with the record's syslog priority, `<N>`."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITY.get(record.levelno, 6)
        # A text-format traceback's later lines reach the journal at its default priority;
        # the json format keeps a record, traceback included, on one line.
        return f"<{priority}>{self._inner.format(record)}"


def writes_to_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when `stream` is the journal stream systemd connected (not a redirect)."""
    expected = environ.get("JOURNAL_STREAM", "")
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # a test's capture has no descriptor
        return False
    return bool(expected) and expected == f"{stat.st_dev}:{stat.st_ino}"


def configure_logging(section: LogSection, stream: TextIO | None = None) -> None:
    """Replaces the root handlers so a second call (tests) does not print lines twice."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    formatter = JsonFormatter() if section.format == "json" else logging.Formatter(TEXT_FORMAT)
    if writes_to_journal(stream, os.environ):
        formatter = JournalPriority(formatter)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(section.level.upper())
    for library in CHATTY_LIBRARIES:  # "Found credentials in environment variables" is noise
        logging.getLogger(library).setLevel(max(root.level, logging.WARNING))
