"""The set of key objects of a repository: create, add, list, remove (opening: unlock.py).

Every key object wraps the same master key, so adding or removing one rewrites no data.
Reading them is bounded (MAX_KEY_OBJECTS objects, MAX_KEY_OBJECT_BYTES each), because
whoever can write the bucket can write key objects too.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Final

from ..store.base import ObjectNotFound, ObjectStore
from .errors import CryptoError, KeyObjectInvalid, KeyRemovalRefused
from .kdf import MAX_KDF_COST, Argon2idParams
from .kek import KeyEncryptionKey
from .key_object import (
    KEY_PREFIX,
    MAX_KEY_OBJECT_BYTES,
    SALT_BYTES,
    KeyObject,
    decode_key_object,
    encode_key_object,
    key_object_key,
    new_key_object,
)
from .keys import MasterKey

log = logging.getLogger(__name__)
MAX_KEY_OBJECTS: Final = 64
OPEN_KDF_BUDGET: Final = MAX_KDF_COST  # ~21 default-cost passphrase keys, or 1 at the bound


@dataclass(frozen=True, slots=True)
class Unlocked:
    """An opened master key and the key object that opened it (the one `remove` protects)."""

    master: MasterKey
    key_id: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key object as listed. Unverified: anyone who can write the bucket can write these."""

    key_id: str
    created: str = ""
    host: str = ""
    user: str = ""
    note: str = ""
    kdf: str = ""
    problem: str = ""  # why the object cannot be used; empty when it decodes


def init_keys(store: ObjectStore, kek: KeyEncryptionKey, note: str = "") -> Unlocked:
    """Creates the repository's master key and its first key object.

    Write order: this, then the sealed `config` with a conditional create, which is the
    commit point. If that create finds a config already there (another agent won the
    race), delete `key_object_key(unlocked.key_id)` and open the winner's repository.

    Raises:
        CryptoError: the repository already has key objects (open it instead).
    """
    if next(iter(store.list(KEY_PREFIX)), None) is not None:
        raise CryptoError(f"{store.describe()} already has keys: open it instead")
    master = MasterKey.generate()
    return Unlocked(master, add_key(store, master, kek, note))


def add_key(store: ObjectStore, master: MasterKey, kek: KeyEncryptionKey, note: str = "") -> str:
    """Writes one more key object wrapping `master` under `kek`; returns its key id.

    Raises:
        CryptoError: the repository already holds MAX_KEY_OBJECTS keys.
    """
    if sum(1 for _ in store.list(KEY_PREFIX)) >= MAX_KEY_OBJECTS:
        raise CryptoError(f"{store.describe()} already holds {MAX_KEY_OBJECTS} keys: remove one")
    salt = secrets.token_bytes(SALT_BYTES)
    params = kek.new_params()
    key_object = new_key_object(master, params, kek.derive(params, salt), salt, note)
    store.put(key_object_key(key_object.id), encode_key_object(key_object), if_absent=True)
    return key_object.id


def list_keys(store: ObjectStore) -> list[KeyInfo]:
    """Every key object, decoded or with the reason it cannot be (no key needed to list)."""
    return [_info(name, found) for name, found in read_key_objects(store)]


def _info(name: str, found: KeyObject | KeyObjectInvalid) -> KeyInfo:
    if isinstance(found, KeyObjectInvalid):
        return KeyInfo(name.removeprefix(KEY_PREFIX), problem=str(found))
    kdf = found.kdf
    text = (
        f"argon2id m={kdf.memory_kib}KiB t={kdf.iterations} p={kdf.lanes}"
        if isinstance(kdf, Argon2idParams)
        else "keyfile"
    )
    return KeyInfo(found.id, found.created, found.host, found.user, found.note, text)


def read_key_objects(store: ObjectStore) -> list[tuple[str, KeyObject | KeyObjectInvalid]]:
    """Each key object (decoded, or why not) by name, in name order; MAX_KEY_OBJECTS at most."""
    names = sorted(info.key for info in store.list(KEY_PREFIX))
    if len(names) > MAX_KEY_OBJECTS:
        raise CryptoError(
            f"{store.describe()} holds {len(names)} key objects, more than {MAX_KEY_OBJECTS}:"
            " refusing to read them"
        )
    found: list[tuple[str, KeyObject | KeyObjectInvalid]] = []
    for name in names:
        try:  # a ranged read: a hostile 10 GB "key object" costs 4 KiB
            data = store.get(name, 0, MAX_KEY_OBJECT_BYTES + 1)
            found.append((name, decode_key_object(name, data)))
        except ObjectNotFound:  # removed since the listing
            continue
        except KeyObjectInvalid as error:
            found.append((name, error))
    return found


def remove_key(store: ObjectStore, unlocked: Unlocked, key_id: str) -> str:
    """Deletes the key object `key_id` (a unique prefix will do); returns the full id.

    The key that opened this session is refused, so whoever removes a key has just proven
    they hold another one. Run it under the repository's exclusive lock: two sessions
    removing each other's key at once could otherwise leave none.

    Raises:
        CryptoError: no key object or several match `key_id`.
        KeyRemovalRefused: it is the key in use, or the last usable key.
    """
    infos = list_keys(store)
    target = _resolve(store, infos, key_id)
    if target.key_id == unlocked.key_id:
        raise KeyRemovalRefused(
            f"key {target.key_id} is the one this session opened {store.describe()} with:"
            " open it with another key to remove this one"
        )
    if not target.problem and not any(not i.problem and i.key_id != target.key_id for i in infos):
        raise KeyRemovalRefused(
            f"key {target.key_id} is the last key of {store.describe()}: add another first"
        )
    store.delete(key_object_key(target.key_id))
    log.info("removed key %s from %s", target.key_id, store.describe())
    return target.key_id


def _resolve(store: ObjectStore, infos: list[KeyInfo], key_id: str) -> KeyInfo:
    matches = [i for i in infos if i.key_id.startswith(key_id)] if key_id else []
    if len(matches) != 1:
        what = "no key" if not matches else f"{len(matches)} keys"
        raise CryptoError(f"{what} with id {key_id!r} in {store.describe()}")
    return matches[0]
