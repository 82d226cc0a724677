"""Key-encryption keys: what a person holds to open a repository (a passphrase or a key file).

A KEK source never sees the master key: it only turns one key object's parameters and salt
into the 32-byte key that unwraps it. Each source says which key objects it can open, so a
key file never spends Argon2 time on passphrase objects and vice versa.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
import unicodedata
from pathlib import Path
from typing import Final, Protocol

from torpor.common.atomic import fsync_directory

from .errors import CryptoError, KeyFileError
from .kdf import (
    Argon2idParams,
    KdfParams,
    KeyFileKdf,
    derive_from_key_file,
    derive_from_passphrase,
)

KEY_FILE_SECRET_BYTES: Final = 32
MAX_KEY_FILE_BYTES: Final = 1024  # a key file is 65 bytes of hex; never read a huge file whole


class KeyEncryptionKey(Protocol):
    """A passphrase or a key file, as the keyring uses it."""

    @property
    def description(self) -> str:
        """What it is, for messages: `passphrase`, `key file /etc/torpor/repo.key`."""
        ...

    def accepts(self, kdf: KdfParams) -> bool:
        """Whether a key object with these parameters can have been written with this source."""
        ...

    def new_params(self) -> KdfParams:
        """The parameters a new key object made from this source records."""
        ...

    def derive(self, kdf: KdfParams, salt: bytes) -> bytes:
        """The 32-byte KEK for one key object; raises CryptoError when `accepts` is false."""
        ...


class Passphrase:
    """A passphrase, normalised to NFC so the same text typed on two systems is the same key."""

    __slots__ = ("_secret", "params")

    def __init__(self, text: str, params: Argon2idParams | None = None) -> None:
        if not text:
            raise CryptoError("the passphrase is empty: a repository key needs one")
        self._secret = unicodedata.normalize("NFC", text).encode("utf-8")
        self.params = params if params is not None else Argon2idParams()

    def __repr__(self) -> str:
        return "Passphrase(<redacted>)"

    @property
    def description(self) -> str:
        return "passphrase"

    def accepts(self, kdf: KdfParams) -> bool:
        return isinstance(kdf, Argon2idParams)

    def new_params(self) -> KdfParams:
        return self.params

    def derive(self, kdf: KdfParams, salt: bytes) -> bytes:
        if not isinstance(kdf, Argon2idParams):
            raise CryptoError("a passphrase opens only argon2id key objects")
        return derive_from_passphrase(self._secret, kdf, salt)


class KeyFile:
    """256 random bits in a file only its owner can read (hex text, one line)."""

    __slots__ = ("_secret", "path")

    def __init__(self, secret: bytes, path: Path | None = None) -> None:
        if len(secret) != KEY_FILE_SECRET_BYTES:
            raise KeyFileError(f"a key file holds {KEY_FILE_SECRET_BYTES} bytes, not {len(secret)}")
        self._secret = bytes(secret)
        self.path = path

    def __repr__(self) -> str:
        return f"KeyFile({self.path}, <redacted>)"

    @classmethod
    def load(cls, path: Path) -> KeyFile:
        """Reads a key file, refusing one that group or others can open.

        Raises:
            KeyFileError: missing, unreadable, not a regular file, mode wider than 0600,
                or not 32 bytes of hex or base64.
        """
        return cls(_parse(path, _read_private(path)), path)

    @classmethod
    def create(cls, path: Path) -> KeyFile:
        """Writes a new random key file with mode 0600; never replaces an existing file.

        Raises:
            KeyFileError: the path exists or cannot be written.
        """
        secret = secrets.token_bytes(KEY_FILE_SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise KeyFileError(f"key file {path} already exists: choose another path") from None
        except OSError as error:
            raise KeyFileError(f"cannot create key file {path}: {error.strerror}") from None
        try:
            os.write(fd, (secret.hex() + "\n").encode("ascii"))
            os.fsync(fd)  # the key must be on disk before anything is sealed under it
        finally:
            os.close(fd)
        fsync_directory(path.parent)
        return cls(secret, path)

    @property
    def description(self) -> str:
        return f"key file {self.path}" if self.path is not None else "key file"

    def accepts(self, kdf: KdfParams) -> bool:
        return isinstance(kdf, KeyFileKdf)

    def new_params(self) -> KdfParams:
        return KeyFileKdf()

    def derive(self, kdf: KdfParams, salt: bytes) -> bytes:
        if not isinstance(kdf, KeyFileKdf):
            raise CryptoError("a key file opens only keyfile key objects")
        return derive_from_key_file(self._secret, salt)


def _read_private(path: Path) -> bytes:
    """The file's first bytes, after checking (on the open descriptor, so no race) its mode."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as error:
        raise KeyFileError(f"cannot read key file {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        if info.st_mode & 0o077:
            mode = stat.S_IMODE(info.st_mode)
            raise KeyFileError(
                f"key file {path} is open to group or others (mode {mode:04o}): chmod 600 {path}"
            )
        return os.read(fd, MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)


def _parse(path: Path, data: bytes) -> bytes:
    """32 bytes from 64 hex digits or from base64; whitespace around them is ignored."""
    malformed = KeyFileError(f"key file {path} does not hold a key (64 hex digits expected)")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise malformed
    try:
        text = data.decode("ascii").strip()
        secret = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (UnicodeDecodeError, ValueError, binascii.Error):
        raise malformed from None
    if len(secret) != KEY_FILE_SECRET_BYTES:
        raise malformed
    return secret
