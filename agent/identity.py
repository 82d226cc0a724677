"""The host's identity on disk: its credential and the nonce it joins with.

Design: docs/design.md, "The identity scheme". The credential is a secret, so it is
written atomically with mode 0600 inside a 0700 directory; the nonce is stored before
the first Join so a retried Join after a lost reply is recognised as the same host.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_text

from .errors import PermanentError

CREDENTIALS_FILE = "credentials.json"
NONCE_FILE = "join_nonce"
STATE_DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600
NONCE_BYTES = 32


@dataclass(frozen=True)
class HostCredential:
    """What Join returned: the host's id and the secret it connects with."""

    host_id: str
    credential: str

    def __repr__(self) -> str:  # never log the secret
        return f"HostCredential(host_id={self.host_id!r})"


class CredentialStore:
    """The agent's state directory and the identity files inside it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.credentials_path = state_dir / CREDENTIALS_FILE

    def prepare(self) -> None:
        """Creates the directory (0700) and proves it writable, before systemd hears READY=1.

        Raises:
            PermanentError: the directory cannot be created or written.
        """
        try:
            if not self.state_dir.is_dir():
                self.state_dir.mkdir(parents=True, mode=STATE_DIR_MODE)
                self.state_dir.chmod(STATE_DIR_MODE)  # mkdir's mode is filtered by the umask
        except OSError as error:
            raise self._unusable(error) from error
        if not os.access(self.state_dir, os.W_OK | os.X_OK):
            raise self._unusable(PermissionError(13, "Permission denied"))

    def load(self) -> HostCredential | None:
        """The stored credential, or None before the first successful Join.

        Raises:
            PermanentError: the file exists but cannot be read or parsed.
        """
        try:
            data = json.loads(self.credentials_path.read_text(encoding="utf-8"))
            return HostCredential(host_id=str(data["host_id"]), credential=str(data["credential"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PermanentError(
                f"cannot read the host credential in {self.credentials_path} ({error}); "
                "remove the file and join again with a new join token"
            ) from error

    def save(self, credential: HostCredential) -> None:
        """Stores the credential atomically: a crash leaves the old file or the new, never half."""
        text = json.dumps({"host_id": credential.host_id, "credential": credential.credential})
        self._write(self.credentials_path, text + "\n")

    def join_nonce(self) -> str:
        """The nonce this host joins with; created once and kept for every later Join."""
        path = self.state_dir / NONCE_FILE
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise self._unusable(error) from error
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        self._write(path, nonce + "\n")
        return nonce

    def _write(self, path: Path, text: str) -> None:
        try:
            atomic_write_text(path, text, mode=SECRET_FILE_MODE)
        except OSError as error:
            raise self._unusable(error) from error

    def _unusable(self, error: OSError) -> PermanentError:
        reason = error.strerror or str(error)
        return PermanentError(
            f"state directory {self.state_dir} is not usable ({reason}); create it writable "
            f"by uid {os.geteuid()} or set agent.state_dir in the config"
        )
