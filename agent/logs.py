"""Logging to stderr, one line per event: journald stores it, and adds the timestamps.

`json` format gives one JSON object per line for log shippers. Tracebacks appear only for
unexpected errors; expected ones (a lost stream, a refused token) are logged as one line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from .config import LogSection

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
CHATTY_LIBRARIES = ("boto3", "botocore", "s3transfer", "urllib3")


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


def configure_logging(section: LogSection) -> None:
    """Replaces the root handlers so a second call (tests) does not print lines twice."""
    handler = logging.StreamHandler(sys.stderr)
    if section.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(section.level.upper())
    for library in CHATTY_LIBRARIES:  # "Found credentials in environment variables" is noise
        logging.getLogger(library).setLevel(max(root.level, logging.WARNING))
