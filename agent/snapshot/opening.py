"""Reading and creating a repository's `config`: which format it is, and its key.

A plain `config` (JSON, format 1) says the repository is unencrypted. A sealed one (format
2) can be read only with the master key, which a key object under `keys/` gives to whoever
holds one of its key-encryption keys (a key file, a passphrase, or the secret the control
plane hands the agent). Given a key, a plain config is refused: whoever can write the bucket
could otherwise replace an encrypted repository's config by a plain one and have hosts
trust what they then read (a downgrade). Creating one is race-safe: the key object goes
first, then the config with a conditional create as the commit point; an agent that lost
the race removes its own key object.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import uuid
from dataclasses import dataclass

import msgspec

from torpor.common.timestamps import utc_now

from .crypto import (
    SEAL_OVERHEAD_BYTES,
    KeyEncryptionKey,
    MasterKey,
    RepositoryCipher,
    SealedObjectInvalid,
    add_key,
    key_object_key,
    looks_sealed,
    open_master_key,
)
from .decoding import Undecodable, corrupt, decode_config, read_bounded
from .errors import RepositoryNotFound, SnapshotError
from .format import (
    CONFIG_KEY,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_CONFIG_BYTES,
    PLAIN_VERSION,
    SEALED_VERSION,
    ChunkerParams,
    RepositoryConfig,
    encode_config,
)
from .key_source import HOW_TO_GIVE_A_KEY
from .object_format import ObjectFormat, PlainFormat, SealedFormat
from .store.base import ObjectExists, ObjectNotFound, ObjectStore

ENCRYPTIONS = ("repokey", "none")


class EncryptionMismatch(SnapshotError):
    """An encrypted repository without a key, or a key for an unencrypted one."""


@dataclass(frozen=True)
class Opened:
    """A repository's config and the format its objects are read and written in."""

    config: RepositoryConfig
    objects: ObjectFormat
    chunker: ChunkerParams  # with the secret seed of an encrypted repository


def read_config(store: ObjectStore, key: KeyEncryptionKey | None) -> Opened:
    """Raises RepositoryNotFound (no config, or a newer format), EncryptionMismatch,
    WrongKey (no key object opens with `key`), IntegrityError (a config that is corrupt)."""
    where = store.describe()
    try:
        raw = read_bounded(store, CONFIG_KEY, MAX_CONFIG_BYTES + SEAL_OVERHEAD_BYTES)
    except ObjectNotFound:
        raise RepositoryNotFound(
            f"no repository at {where}: the first `snapshot create` (or `snapshot init`) makes one"
        ) from None
    except Undecodable as error:
        raise corrupt(CONFIG_KEY, where, error) from None
    if looks_sealed(raw):
        return _sealed(store, raw, key)
    if key is not None:
        raise EncryptionMismatch(
            f"{where} is not encrypted, but a key was given: refusing to read it (its config may"
            " have been replaced); to read an unencrypted repository, give no key"
        )
    config = _decoded(raw, where)
    if config.version != PLAIN_VERSION or config.encryption != "none":
        raise corrupt(CONFIG_KEY, where, "an unsealed config must be version 1, unencrypted")
    return Opened(config, PlainFormat(), config.chunker)


def create_config(store: ObjectStore, key: KeyEncryptionKey | None) -> None:
    """Makes a repository at an empty location: encrypted when given a key. Does nothing
    when a config is already there (another host may have just made it)."""
    with contextlib.suppress(ObjectNotFound):
        store.size(CONFIG_KEY)
        return
    if key is None:
        config = _new_config(PLAIN_VERSION, "none")
        with contextlib.suppress(ObjectExists):
            store.put(CONFIG_KEY, encode_config(config), if_absent=True)
        return
    # Not init_keys: a key object left by an init killed before its config is written must
    # not block the next one (and deleting it could race an init in progress). A stray key
    # opens another master key, and opening skips it (open_master_key's sealed_config).
    master = MasterKey.generate()
    key_id = add_key(store, master, key, note=f"{_user()}@{socket.gethostname()}")
    sealed = RepositoryCipher(master).seal_config(
        encode_config(_new_config(SEALED_VERSION, "repokey"))
    )
    try:
        store.put(CONFIG_KEY, sealed, if_absent=True)
    except ObjectExists:  # lost the race: the winner's key objects stand, ours goes
        store.delete(key_object_key(key_id))


def _sealed(store: ObjectStore, raw: bytes, key: KeyEncryptionKey | None) -> Opened:
    where = store.describe()
    if key is None:
        raise EncryptionMismatch(f"{where} is encrypted: {HOW_TO_GIVE_A_KEY}")
    cipher = RepositoryCipher(open_master_key(store, key, sealed_config=raw).master)
    try:
        config = _decoded(cipher.open_config(raw), where)
    except SealedObjectInvalid as error:
        raise corrupt(CONFIG_KEY, where, error) from None
    if config.version > FORMAT_VERSION:
        raise RepositoryNotFound(
            f"{where} holds {config.format} version {config.version}; this agent reads"
            f" version {FORMAT_VERSION}: upgrade the agent"
        )
    if config.version != SEALED_VERSION or config.encryption != "repokey":
        raise corrupt(CONFIG_KEY, where, "a sealed config must be version 2, repokey")
    chunker = msgspec.structs.replace(config.chunker, seed=cipher.chunker_seed)
    return Opened(config, SealedFormat(cipher), chunker)


def _decoded(raw: bytes, where: str) -> RepositoryConfig:
    try:
        config = decode_config(raw)
    except Undecodable as error:
        raise corrupt(CONFIG_KEY, where, error) from None
    if config.format != FORMAT_NAME or config.version > FORMAT_VERSION:
        raise RepositoryNotFound(
            f"{where} holds {config.format} version {config.version}; this agent reads"
            f" version {FORMAT_VERSION}: upgrade the agent"
        )
    return config


def _new_config(version: int, encryption: str) -> RepositoryConfig:
    keyed = encryption == "repokey"
    return RepositoryConfig(
        FORMAT_NAME,
        version,
        uuid.uuid4().hex,
        utc_now().isoformat(),
        ChunkerParams(),
        hash="blake3-keyed" if keyed else "blake3",
        encryption="repokey" if keyed else "none",
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's uid)
        return str(os.getuid())
