"""Key objects (`keys/<key-id>`): the master key wrapped under one KEK, as bounded JSON.

The wrap is AES-256-GCM, not AES-KW: GCM authenticates associated data, and the associated
data is every other field of the object, so an attacker who edits the KDF parameters, the
salt, the id or even the note gets an object that no longer opens, rather than one that
opens differently. Every KEK is fresh (a new random salt per key object), so the GCM
nonce is used once per key and can be random. Everything read is bounded before use.
"""

from __future__ import annotations

import getpass
import secrets
import socket
from typing import Annotated, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from torpor.common.timestamps import utc_now

from .errors import KeyObjectInvalid
from .kdf import KdfParams
from .keys import MASTER_KEY_BYTES, MasterKey

KEY_PREFIX: Final = "keys/"
KEY_OBJECT_VERSION: Final = 1
MAX_KEY_OBJECT_BYTES: Final = 4096  # a real one is ~500 bytes; read no more than this
SALT_BYTES: Final = 16  # RFC 9106: 128 bits
_NONCE_BYTES: Final = 12
WRAPPED_BYTES: Final = _NONCE_BYTES + MASTER_KEY_BYTES + 16
MAX_TEXT_CHARS: Final = 256
_KEY_ID_PATTERN: Final = "^[0-9a-f]{32}$"
_AD_DOMAIN: Final = b"torpor/v2/key/"

_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]


class KeyObject(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One key object; every field but `wrapped` is authenticated by the wrap."""

    version: int
    id: Annotated[str, msgspec.Meta(pattern=_KEY_ID_PATTERN)]
    created: Annotated[str, msgspec.Meta(max_length=64)]
    host: _Text
    user: _Text
    note: _Text
    kdf: KdfParams
    salt: Annotated[bytes, msgspec.Meta(min_length=SALT_BYTES, max_length=64)]
    wrapped: Annotated[bytes, msgspec.Meta(min_length=WRAPPED_BYTES, max_length=WRAPPED_BYTES)]


class _VersionProbe(msgspec.Struct):
    """Read first, so a newer key object is reported as newer, not as malformed."""

    version: int


def key_object_key(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}"


def new_key_object(
    master: MasterKey, kdf: KdfParams, kek: bytes, salt: bytes, note: str
) -> KeyObject:
    """A key object wrapping `master` under `kek` (derived by the caller from `kdf` and `salt`)."""
    unwrapped = KeyObject(
        version=KEY_OBJECT_VERSION,
        id=secrets.token_hex(16),
        created=utc_now().isoformat(timespec="seconds"),
        host=_host(),
        user=_user(),
        note=note[:MAX_TEXT_CHARS],
        kdf=kdf,
        salt=salt,
        wrapped=b"",
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, master.secret(), _associated_data(unwrapped))
    return msgspec.structs.replace(unwrapped, wrapped=nonce + sealed)


def unwrap(key_object: KeyObject, kek: bytes) -> MasterKey | None:
    """The master key, or None when `kek` is not this object's (or the object was edited)."""
    nonce, sealed = key_object.wrapped[:_NONCE_BYTES], key_object.wrapped[_NONCE_BYTES:]
    try:
        secret = AESGCM(kek).decrypt(nonce, sealed, _associated_data(key_object))
    except InvalidTag:
        return None
    return MasterKey(secret)


def _associated_data(key_object: KeyObject) -> bytes:
    """The domain, the id, and the msgpack of every field with `wrapped` emptied (canonical:
    msgspec writes struct fields in declaration order, and unknown fields are refused)."""
    header = msgspec.structs.replace(key_object, wrapped=b"")
    return b"".join((_AD_DOMAIN, key_object.id.encode(), b"/", msgspec.msgpack.encode(header)))


def encode_key_object(key_object: KeyObject) -> bytes:
    return msgspec.json.format(msgspec.json.encode(key_object)) + b"\n"


def decode_key_object(name: str, data: bytes) -> KeyObject:
    """Parses and bounds-checks a key object read from `name` (`keys/<id>`).

    Raises:
        KeyObjectInvalid: too large, not JSON, a newer version, a field out of bounds
            (KDF costs included), or an id that is not the one in its name.
    """
    if len(data) > MAX_KEY_OBJECT_BYTES:
        raise KeyObjectInvalid(f"{name} is larger than {MAX_KEY_OBJECT_BYTES} bytes")
    try:
        version = msgspec.json.decode(data, type=_VersionProbe).version
        if version != KEY_OBJECT_VERSION:
            raise KeyObjectInvalid(
                f"{name} is key object version {version}; this agent reads version"
                f" {KEY_OBJECT_VERSION} (upgrade the agent)"
            )
        key_object = msgspec.json.decode(data, type=KeyObject)
    except msgspec.DecodeError as error:
        raise KeyObjectInvalid(f"{name} is not a valid key object: {error}") from None
    if name != key_object_key(key_object.id):
        raise KeyObjectInvalid(f"{name} holds key {key_object.id}: moved or renamed")
    return key_object


def _host() -> str:
    return socket.gethostname()[:MAX_TEXT_CHARS]


def _user() -> str:
    try:
        return getpass.getuser()[:MAX_TEXT_CHARS]
    except (KeyError, OSError):  # no passwd entry and no $USER: a bare container
        return ""
