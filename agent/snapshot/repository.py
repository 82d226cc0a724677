"""A repository on an object store: its config, the merged index, and the snapshots.

Index and manifest objects are immutable and named by their hash, so reads go through a
local cache whose entries are checked against that hash: the cache can be deleted at any
time and can never serve wrong data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_bytes
from torpor.common.timestamps import utc_now

from .errors import IntegrityError, RepositoryNotFound, SnapshotNotFound
from .format import (
    CONFIG_KEY,
    DATA_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_PREFIX,
    PACK_TRAILER_BYTES,
    PIN_PREFIX,
    SNAPSHOT_PREFIX,
    BlobRecord,
    ChunkerParams,
    IndexObject,
    Manifest,
    RepositoryConfig,
    content_id,
    decode_config,
    decode_metadata,
    encode_config,
    encode_metadata,
    id_from_key,
    index_key,
    pack_key,
    pin_key,
    snapshot_key,
)
from .pack import PackFormatError, decode_table, table_length
from .store.base import ObjectExists, ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)
_FETCH_THREADS = 8


@dataclass(frozen=True, slots=True)
class Location:
    """Where a chunk's stored bytes are."""

    pack_id: str
    offset: int
    stored_length: int
    raw_length: int
    codec: int


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: str
    manifest: Manifest
    pinned: bool


class Repository:
    """Read access plus the few writes that are not packs (index, manifest, pins)."""

    def __init__(self, store: ObjectStore, config: RepositoryConfig, cache_dir: Path | None):
        self.store = store
        self.config = config
        self._cache = cache_dir / config.id if cache_dir is not None else None
        self.chunks: dict[bytes, Location] = {}
        self.packs: dict[str, list[BlobRecord]] = {}
        self.index_ids: set[str] = set()
        self._lock = threading.Lock()

    # ---- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, store: ObjectStore, cache_dir: Path | None = None) -> Repository:
        try:
            raw = store.get(CONFIG_KEY)
        except ObjectNotFound:
            raise RepositoryNotFound(
                f"no repository at {store.describe()}: the first `snapshot create` makes one"
            ) from None
        config = decode_config(raw)
        if config.format != FORMAT_NAME or config.version > FORMAT_VERSION:
            raise RepositoryNotFound(
                f"{store.describe()} holds {config.format} version {config.version};"
                f" this agent reads version {FORMAT_VERSION}: upgrade the agent"
            )
        return cls(store, config, cache_dir)

    @classmethod
    def open_or_init(cls, store: ObjectStore, cache_dir: Path | None = None) -> Repository:
        """Opens the repository, creating it first if the location is empty (race-safe)."""
        config = RepositoryConfig(
            FORMAT_NAME, FORMAT_VERSION, uuid.uuid4().hex, utc_now().isoformat(), ChunkerParams()
        )
        with contextlib.suppress(ObjectExists):
            store.put(CONFIG_KEY, encode_config(config), if_absent=True)
        return cls.open(store, cache_dir)

    # ---- the index -----------------------------------------------------------------

    def load_index(self) -> None:
        """Merges every index object (new ones only, on a second call)."""
        keys = [info.key for info in self.store.list(INDEX_PREFIX)]
        fresh = [key for key in keys if id_from_key(key) not in self.index_ids]
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            for key, index in zip(fresh, pool.map(self._read_index, fresh), strict=True):
                self._merge(index)
                self.index_ids.add(id_from_key(key))

    def _read_index(self, key: str) -> IndexObject:
        return decode_metadata(self._read_immutable(key), IndexObject)

    def _merge(self, index: IndexObject) -> None:
        with self._lock:
            for pack_id, records in index.items():
                self.packs[pack_id] = records
                for r in records:
                    self.chunks[r.chunk_id] = Location(
                        pack_id, r.offset, r.stored_length, r.raw_length, r.codec
                    )

    def write_index(self, index: IndexObject) -> str:
        """Stores an index object (only for packs already durable) and merges it."""
        data = encode_metadata(index)
        index_id = content_id(data)
        self.store.put(index_key(index_id), data)
        self._cache_put(index_key(index_id), data)
        self._merge(index)
        with self._lock:
            self.index_ids.add(index_id)
        return index_id

    def stored_packs(self) -> dict[str, int]:
        """Every pack object in the store: id → size."""
        return {id_from_key(i.key): i.size for i in self.store.list(DATA_PREFIX)}

    def adopt_orphan_packs(self) -> int:
        """Indexes packs that no index names (left by a killed create); returns how many."""
        orphans = [pack_id for pack_id in self.stored_packs() if pack_id not in self.packs]
        adopted: IndexObject = {}
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            for pack_id, records in zip(orphans, pool.map(self._pack_table, orphans), strict=True):
                if records is not None:
                    adopted[pack_id] = records
        if adopted:
            self.write_index(adopted)
            log.info("adopted %d pack(s) left by an interrupted snapshot", len(adopted))
        return len(adopted)

    def _pack_table(self, pack_id: str) -> list[BlobRecord] | None:
        key = pack_key(pack_id)
        try:
            size = self.store.size(key)
            length = table_length(self.store.get(key, size - PACK_TRAILER_BYTES))
            start = size - PACK_TRAILER_BYTES - length
            return decode_table(self.store.get(key, start, length))
        except (PackFormatError, ObjectNotFound, ValueError) as error:
            log.warning("ignoring damaged pack %s: %s", key, error)
            return None

    # ---- snapshots -----------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        return [id_from_key(info.key) for info in self.store.list(SNAPSHOT_PREFIX)]

    def pinned_ids(self) -> set[str]:
        return {id_from_key(info.key) for info in self.store.list(PIN_PREFIX)}

    def manifest(self, snapshot_id: str) -> Manifest:
        return decode_metadata(self._read_immutable(snapshot_key(snapshot_id)), Manifest)

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        ids = self.snapshot_ids()
        pinned = self.pinned_ids()
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            manifests = list(pool.map(self.manifest, ids))
        infos = [SnapshotInfo(i, m, i in pinned) for i, m in zip(ids, manifests, strict=True)]
        return sorted(infos, key=lambda info: (info.manifest.time, info.id))

    def resolve(self, reference: str, candidates: Iterable[SnapshotInfo] | None = None) -> str:
        """A full snapshot id from a unique prefix, or `latest`."""
        infos = list(candidates) if candidates is not None else self.snapshots()
        if reference == "latest":
            if not infos:
                raise SnapshotNotFound(f"{self.store.describe()} holds no snapshot yet")
            return infos[-1].id
        matches = [info.id for info in infos if info.id.startswith(reference)]
        if len(matches) != 1:
            what = "no snapshot" if not matches else f"{len(matches)} snapshots"
            raise SnapshotNotFound(f"{what} with id {reference!r} in {self.store.describe()}")
        return matches[0]

    def find(self, reference: str) -> SnapshotInfo:
        """The snapshot an id, a unique prefix or `latest` names (manifests read once)."""
        snapshots = self.snapshots()
        wanted = self.resolve(reference, snapshots)
        return next(info for info in snapshots if info.id == wanted)

    def write_manifest(self, manifest: Manifest) -> str:
        """Writes a manifest once (conditional create): the snapshot's commit point."""
        data = encode_metadata(manifest)
        snapshot_id = content_id(data)
        with contextlib.suppress(ObjectExists):  # same content, same id: already committed
            self.store.put(snapshot_key(snapshot_id), data, if_absent=True)
        self._cache_put(snapshot_key(snapshot_id), data)
        return snapshot_id

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Deletes a manifest; its data stays until `prune` finds it unreferenced."""
        self.store.delete(snapshot_key(snapshot_id))
        self.forget_cached(snapshot_key(snapshot_id))

    def pin(self, snapshot_id: str) -> None:
        self.store.put(pin_key(snapshot_id), b"")

    def unpin(self, snapshot_id: str) -> None:
        self.store.delete(pin_key(snapshot_id))

    # ---- immutable objects through the cache --------------------------------------

    def _read_immutable(self, key: str) -> bytes:
        expected = id_from_key(key)
        cached = self._cache_get(key)
        if cached is not None and content_id(cached) == expected:
            return cached
        data = self.store.get(key)
        if content_id(data) != expected:
            raise IntegrityError(f"{self.store.describe()}/{key} does not match its hash")
        self._cache_put(key, data)
        return data

    def _cache_get(self, key: str) -> bytes | None:
        if self._cache is None:
            return None
        try:
            return (self._cache / key).read_bytes()
        except OSError:
            return None

    def _cache_put(self, key: str, data: bytes) -> None:
        if self._cache is None:
            return
        try:
            atomic_write_bytes(self._cache / key, data, mode=0o600)
        except OSError as error:  # the cache only speeds things up
            log.debug("cache write %s failed: %s", key, error)

    def forget_cached(self, key: str) -> None:
        if self._cache is not None:
            with contextlib.suppress(OSError):
                (self._cache / key).unlink()
