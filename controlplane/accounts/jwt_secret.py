"""The key that signs access tokens, made once per state directory.

Two processes starting together may both make one: `os.link` publishes a fully written
temp file only if no secret exists yet, so both end up reading the same winner.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from torpor.common.atomic import fsync_directory

SECRET_FILE = "jwt.secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 48


def load_or_create_secret(state_dir: Path) -> str:
    """The secret in `<state_dir>/jwt.secret`, created (mode 0600) when missing."""
    path = state_dir / SECRET_FILE
    if not path.exists():
        _publish(path, secrets.token_urlsafe(SECRET_BYTES))
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it to have a new secret made")
    return secret


def _publish(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(secret + "\n")
            tmp.flush()
            os.fsync(tmp.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its secret
            os.link(tmp_name, path)
        fsync_directory(path.parent)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
