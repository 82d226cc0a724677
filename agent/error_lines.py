"""How an agent command's failure reaches a person: one line on stderr, and exit status 1.

A traceback tells a user nothing they can act on, so every OS error becomes
`torpor-agent: <operation>: <path>: <strerror>; <what to do>` and anything unexpected
`torpor-agent: internal error: <type>: <message>; run with TORPOR_DEBUG=1 ...`.
`TORPOR_DEBUG=1` prints the traceback first, for a bug report. Only commands that end go
through here: the daemon's own failures reach the journal with their tracebacks.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable, Mapping

PROG = "torpor-agent"
EXIT_FAILED = 1
DEBUG_ENV = "TORPOR_DEBUG"

_HINTS = {
    errno.EACCES: "run as a user who may read or write there, or check ownership and mode",
    errno.EPERM: "run as a user who may read or write there, or check ownership and mode",
    errno.ENOSPC: "free space on that filesystem, then run again",
    errno.EDQUOT: "free space or raise the quota, then run again",
    errno.EROFS: "that filesystem is read-only: choose a writable location",
    errno.ENOTDIR: "part of that path is a file, not a directory: choose another target",
    errno.EEXIST: "something already exists there: choose another target or remove it",
    errno.EISDIR: "a directory stands where a file is needed: choose another target",
    errno.ENOENT: "check that the path exists (nothing can be created under /proc or /sys)",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.ELOOP: "a symbolic link on that path loops: check the links",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n, LimitNOFILE=)",
    errno.ENFILE: "the system ran out of open files: close some, then run again",
    errno.EIO: "the device reported an I/O error: check the disk (dmesg)",
}


def debug_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """TORPOR_DEBUG set to anything but "", "0" or "false" asks for tracebacks."""
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def os_error_line(operation: str, error: OSError) -> str:
    """`torpor-agent: <operation>: <path>: <strerror>; <hint>` (the path and hint where known)."""
    parts = [PROG, operation]
    if error.filename is not None:
        path = _path(error.filename)
        if error.filename2 is not None:
            path = f"{path} -> {_path(error.filename2)}"
        parts.append(path)
    parts.append(error.strerror or _one_line(str(error)) or type(error).__name__)
    return ": ".join(parts) + hint(error)


def hint(error: OSError) -> str:
    """`; <what to do>` for an error whose fix is obvious from its errno, else ""."""
    text = _HINTS.get(error.errno) if error.errno is not None else None
    return f"; {text}" if text else ""


def internal_error_line(error: BaseException) -> str:
    """The one line for a failure nobody anticipated: a bug to report."""
    return (
        f"{PROG}: internal error: {type(error).__name__}: {_one_line(str(error))};"
        f" run with {DEBUG_ENV}=1 for the traceback"
    )


def reported(operation: str, command: Callable[[], int]) -> int:
    """Runs `command`; an OSError or unexpected exception becomes one line and exit 1.

    KeyboardInterrupt and SystemExit pass through: they are not failures to explain.
    """
    try:
        return command()
    except OSError as error:
        say(os_error_line(operation, error))
    except Exception as error:  # the last resort: one line, not a traceback
        say(internal_error_line(error))
    return EXIT_FAILED


def say(line: str) -> None:
    """Prints a failure's line to stderr; under TORPOR_DEBUG, the traceback being handled first."""
    if debug_enabled() and sys.exc_info()[0] is not None:
        traceback.print_exc(file=sys.stderr)
    print(line, file=sys.stderr)


def _path(name: object) -> str:
    """A filename as OSError holds it: str, bytes, or a file descriptor's number."""
    return os.fsdecode(name) if isinstance(name, str | bytes) else str(name)


def _one_line(text: str) -> str:
    return " ".join(text.split())
