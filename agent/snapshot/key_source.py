"""Where the `torpor-agent snapshot` command line gets the key of an encrypted repository.

In order: `--key-file PATH` (32 random bytes as hex or base64, mode 0600), `--passphrase-file
PATH`, the environment's `TORPOR_SNAPSHOT_KEY` (64 hex characters: how the control plane's
local provider hands an instance's key to a subprocess, never on the command line, which
`ps` shows), `TORPOR_SNAPSHOT_PASSPHRASE`, then `[snapshot] key_file` of the config. None of
them: the repository must be unencrypted (an encrypted one is refused with a line saying
which of these to give).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .crypto import KeyEncryptionKey, KeyFile, KeyFileError, Passphrase

KEY_ENV = "TORPOR_SNAPSHOT_KEY"
PASSPHRASE_ENV = "TORPOR_SNAPSHOT_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
HOW_TO_GIVE_A_KEY = (
    f"give --key-file PATH, --passphrase-file PATH, {KEY_ENV} or {PASSPHRASE_ENV}"
    " (or [snapshot] key_file)"
)
MAX_PASSPHRASE_BYTES = 4096


def key_from(
    key_file: Path | None,
    passphrase_file: Path | None,
    configured_key_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> KeyEncryptionKey | None:
    """The first key source given; raises KeyFileError (one line) for an unusable one."""
    if key_file is not None:
        return KeyFile.load(key_file)
    if passphrase_file is not None:
        return Passphrase(read_passphrase(passphrase_file))
    if environ.get(KEY_ENV):
        return _key_from_hex(environ[KEY_ENV])
    if environ.get(PASSPHRASE_ENV):
        return Passphrase(environ[PASSPHRASE_ENV])
    if configured_key_file is not None:
        return KeyFile.load(configured_key_file)
    return None


def _key_from_hex(text: str) -> KeyFile:
    try:
        return KeyFile(bytes.fromhex(text.strip()))
    except ValueError:
        raise KeyFileError(f"{KEY_ENV} must be 64 hex characters (a 32-byte key)") from None


def read_passphrase(path: Path) -> str:
    """The file's first line, without its line break (a passphrase may hold spaces)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSPHRASE_BYTES + 1)
    except OSError as error:
        raise KeyFileError(f"cannot read passphrase file {path}: {error.strerror}") from error
    if len(data) > MAX_PASSPHRASE_BYTES:
        raise KeyFileError(f"passphrase file {path} is over {MAX_PASSPHRASE_BYTES} bytes")
    try:
        return data.decode("utf-8").splitlines()[0] if data.strip() else ""
    except UnicodeDecodeError:
        raise KeyFileError(f"passphrase file {path} is not UTF-8 text") from None
