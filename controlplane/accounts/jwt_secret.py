"""The key that signs access tokens, made once per state directory.

Two processes starting together may both make one: `os.link` publishes a fully written
temp file only if no secret exists yet, so both end up reading the same winner.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from torpor.common.atomic import publish_new_file

SECRET_FILE = "jwt.secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 48


def load_or_create_secret(state_dir: Path) -> str:
    """The secret in `<state_dir>/jwt.secret`, created (mode 0600) when missing."""
    path = state_dir / SECRET_FILE
    if not path.exists():
        publish_new_file(path, (secrets.token_urlsafe(SECRET_BYTES) + "\n").encode())
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it to have a new secret made")
    return secret
