"""The control plane's repository master key: one file of 32 random bytes that wraps every
instance's repository secret in the database.

By default `<state dir>/repository-master.key`, made on first start; an operator may name
their own (`TORPOR_REPOSITORY_MASTER_KEY_FILE`), which must then exist: making a fresh key
where a configured one was expected would silently orphan every encrypted repository.
A file readable by others or of the wrong length stops the control plane with one line.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from torpor.common.atomic import publish_new_file

from ..errors import TorporError

MASTER_KEY_FILE = "repository-master.key"
MASTER_KEY_BYTES = 32
"""AES-256."""
OTHERS_MAY_ACCESS = 0o077


class MasterKeyError(TorporError):
    """The master key file cannot be used; the message is one line saying how to fix it."""

    code = "failed_precondition"


@dataclass(frozen=True)
class MasterKey:
    """The key and the file it came from (named in every error, never the key)."""

    path: Path
    secret: bytes = field(repr=False)


def load_master_key(path: Path, *, create: bool) -> MasterKey:
    """The key in `path`; made (0600, atomically) when missing and `create` is true.

    Raises MasterKeyError: missing (and not to be made), unreadable, readable or writable
    by group or others, or not exactly 32 bytes."""
    if create and not path.exists():
        publish_new_file(path, secrets.token_bytes(MASTER_KEY_BYTES))
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            data = file.read(MASTER_KEY_BYTES + 1)
    except FileNotFoundError:
        raise MasterKeyError(f"the repository master key file {path} does not exist") from None
    except OSError as err:
        raise MasterKeyError(
            f"cannot read the repository master key {path}: {err.strerror}"
        ) from None
    _check(path, mode, len(data))
    return MasterKey(path, data)


def _check(path: Path, mode: int, size: int) -> None:
    if not stat.S_ISREG(mode):
        raise MasterKeyError(f"the repository master key {path} is not a regular file")
    if mode & OTHERS_MAY_ACCESS:
        raise MasterKeyError(
            f"the repository master key {path} is open to group or others "
            f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}"
        )
    if size != MASTER_KEY_BYTES:
        got = f"{size} bytes" if size <= MASTER_KEY_BYTES else "more bytes"
        raise MasterKeyError(
            f"the repository master key {path} holds {got}, not {MASTER_KEY_BYTES} random "
            f"bytes (make one with: head -c {MASTER_KEY_BYTES} /dev/urandom)"
        )
