"""`snapshot init` and `snapshot key add|list|remove`: making a repository, managing its keys.

Keys are rotated without rewriting data: the master key that seals every object never
changes, only the key objects that wrap it do (add the new key, then remove the old one).
Removal holds the exclusive lock, so two sessions can never remove each other's key at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import locks
from .crypto import (
    SEAL_OVERHEAD_BYTES,
    KeyEncryptionKey,
    KeyInfo,
    Unlocked,
    add_key,
    list_keys,
    open_master_key,
    remove_key,
)
from .decoding import read_bounded
from .errors import SnapshotError
from .format import CONFIG_KEY, MAX_CONFIG_BYTES
from .key_source import HOW_TO_GIVE_A_KEY
from .opening import create_config, read_config
from .operations import Settings, opened_store
from .store.base import ObjectNotFound, ObjectStore

SEALED_CONFIG_MAX_BYTES = MAX_CONFIG_BYTES + SEAL_OVERHEAD_BYTES


@dataclass(frozen=True)
class Initialised:
    repository: str
    repository_id: str
    encryption: str


def init(settings: Settings, encryption: str) -> Initialised:
    """Creates the repository at an empty location, encrypted (`repokey`) or not (`none`)."""
    key = settings.key
    if encryption == "repokey" and key is None:
        raise SnapshotError(f"init --encryption repokey needs a key: {HOW_TO_GIVE_A_KEY}")
    if encryption == "none" and key is not None:
        raise SnapshotError("init --encryption none takes no key: drop the key options")
    with opened_store(settings) as store:
        try:
            store.size(CONFIG_KEY)
        except ObjectNotFound:
            create_config(store, key)
        else:
            raise SnapshotError(f"a repository already exists at {store.describe()}")
        config = read_config(store, key).config
        return Initialised(store.describe(), config.id, config.encryption)


def keys(settings: Settings) -> list[KeyInfo]:
    """The key objects (no key is needed to list them: they hold only wrapped keys)."""
    with opened_store(settings) as store:
        read_config(store, settings.key)  # an encrypted repository, opened by this key
        return list_keys(store)


def add(settings: Settings, new_key: KeyEncryptionKey, note: str) -> str:
    """One more key that opens the repository; returns its id."""
    with opened_store(settings) as store:
        unlocked = _unlocked(store, settings)
        return add_key(store, unlocked.master, new_key, note)


def remove(settings: Settings, key_id: str) -> str:
    """Removes a key (never the one given to open it, never the last); returns its id."""
    with opened_store(settings) as store:
        unlocked = _unlocked(store, settings)
        with locks.hold(store, "exclusive", "snapshot key remove"):
            return remove_key(store, unlocked, key_id)


def _unlocked(store: ObjectStore, settings: Settings) -> Unlocked:
    if settings.key is None:
        raise SnapshotError(f"managing keys needs the current key: {HOW_TO_GIVE_A_KEY}")
    read_config(store, settings.key)  # refuses an unencrypted repository, names its problem
    sealed = read_bounded(store, CONFIG_KEY, SEALED_CONFIG_MAX_BYTES)
    return open_master_key(store, settings.key, sealed_config=sealed)
