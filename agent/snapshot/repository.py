"""A repository on an object store: its config, the merged index, and the snapshots.

Index and manifest objects are immutable and named by their hash, so reads go through a
local cache whose entries are checked against that hash (metadata_cache.py).

Whoever can write the bucket can plant objects, so damage is isolated: a listed key that is
not of the format is skipped with a warning, and a manifest or index object that does not
decode is set aside with its reason (`Catalog.unreadable`, `unreadable_indexes`) instead of
failing every operation; prune refuses while it cannot know what such an object names.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .catalog import Catalog, SnapshotInfo, UnreadableSnapshot, latest, match
from .codec import CodecError, verified
from .crypto import KeyEncryptionKey, ObjectKind
from .decoding import Undecodable, corrupt, decode_index, decode_manifest
from .errors import SnapshotNotFound
from .format import (
    CONFIG_KEY,
    DATA_PREFIX,
    INDEX_PREFIX,
    MAX_INDEX_BYTES,
    MAX_INDEX_RECORDS,
    MAX_MANIFEST_BYTES,
    PACK_TRAILER_BYTES,
    PIN_PREFIX,
    SNAPSHOT_PREFIX,
    BlobRecord,
    ChunkerParams,
    IndexObject,
    Manifest,
    RepositoryConfig,
    encode_metadata,
    id_from_key,
    index_key,
    is_object_id,
    is_repository_id,
    pack_key,
    pin_key,
    snapshot_key,
)
from .metadata_cache import MetadataCache
from .object_format import ObjectFormat, PlainFormat
from .opening import create_config, read_config
from .pack import PackFormatError, decode_table, table_length
from .store.base import ObjectExists, ObjectNotFound, ObjectStore

# Re-exported: callers have always found SnapshotInfo here.
__all__ = ["Catalog", "Location", "Repository", "SnapshotInfo", "UnreadableSnapshot"]

log = logging.getLogger(__name__)
_FETCH_THREADS = 8
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a chunk's stored bytes are."""

    pack_id: str
    offset: int
    stored_length: int
    raw_length: int
    codec: int


@dataclass(frozen=True, slots=True)
class _Failed:
    reason: str


class Repository:
    """Read access plus the few writes that are not packs (index, manifest, pins)."""

    def __init__(
        self,
        store: ObjectStore,
        config: RepositoryConfig,
        cache_dir: Path | None,
        objects: ObjectFormat | None = None,
        chunker: ChunkerParams | None = None,
    ):
        if not is_repository_id(config.id):  # it names the cache directory
            raise corrupt(CONFIG_KEY, store.describe(), "its id is not 32 lower-case hex")
        self.store = store
        self.config = config
        self.objects: ObjectFormat = objects or PlainFormat()
        self.chunker = chunker or config.chunker
        root = cache_dir / config.id if cache_dir else None
        self._cache = MetadataCache(store, root, self.objects)
        self.chunks: dict[bytes, Location] = {}
        self.packs: dict[str, list[BlobRecord]] = {}
        self.index_ids: set[str] = set()
        self.unreadable_indexes: dict[str, str] = {}  # index id → why it does not decode
        self._lock = threading.Lock()

    # ---- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls, store: ObjectStore, cache_dir: Path | None = None, key: KeyEncryptionKey | None = None
    ) -> Repository:
        """The repository at `store`, opened with `key` if it is encrypted (opening.py)."""
        opened = read_config(store, key)
        return cls(store, opened.config, cache_dir, opened.objects, opened.chunker)

    @classmethod
    def open_or_init(
        cls, store: ObjectStore, cache_dir: Path | None = None, key: KeyEncryptionKey | None = None
    ) -> Repository:
        """Opens the repository, creating it first if the location is empty (race-safe);
        a new one is encrypted when given a key."""
        create_config(store, key)
        return cls.open(store, cache_dir, key)

    @property
    def authenticated(self) -> bool:
        """Every object is sealed by the repository key: its owners can be believed."""
        return self.objects.authenticated

    def open_chunk(
        self, cid: bytes, codec: int, blob: bytes | memoryview, raw_length: int
    ) -> bytes | memoryview:
        """A blob's plaintext, only if it opens, decodes and hashes to `cid`; else CodecError."""
        try:
            stored = self.objects.open_blob(cid, blob)
        except Undecodable as error:
            raise CodecError(f"cannot be opened ({error})") from None
        return verified(codec, stored, raw_length, cid, self.objects.chunk_id)

    # ---- listing and reading -------------------------------------------------------

    def listed(self, prefix: str) -> dict[str, int]:
        """The ids of the objects under `prefix` → their sizes. A key not of the format's
        form is skipped with a warning: it never becomes a path, a cache file or a key."""
        found: dict[str, int] = {}
        for info in self.store.list(prefix):
            object_id = id_from_key(info.key)
            if object_id is None or not info.key.startswith(prefix):
                log.warning("ignoring %r in %s: not a key of this format", info.key, prefix)
                continue
            found[object_id] = info.size
        return found

    def _read_all(
        self, listed: list[tuple[str, int]], max_bytes: int, decode: Callable[[bytes], T]
    ) -> list[T | _Failed | None]:
        """Each listed (key, size) fetched in parallel, then decoded one at a time (so at
        most one object's inflated bytes are held at once): its value, why it is unreadable,
        or None if it was deleted meanwhile."""

        def fetch(item: tuple[str, int]) -> bytes | _Failed | None:
            key, size = item
            try:
                return self._cache.read(key, max_bytes, size)
            except ObjectNotFound:
                return None
            except Undecodable as error:
                return _Failed(str(error))

        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            fetched = list(pool.map(fetch, listed))
        return [_decoded(data, decode) for data in fetched]

    # ---- the index -----------------------------------------------------------------

    def load_index(self) -> None:
        """Merges every index object (new ones only, on a second call).

        One that does not decode is skipped with a warning and kept in `unreadable_indexes`:
        the packs it named become orphans, which `adopt_orphan_packs` re-indexes from their
        own tables, and prune deletes no unindexed pack while one is unreadable.
        """
        known = self.index_ids | self.unreadable_indexes.keys()
        fresh = {i: n for i, n in self.listed(INDEX_PREFIX).items() if i not in known}
        listed = [(index_key(i), size) for i, size in fresh.items()]
        outcomes = self._read_all(listed, MAX_INDEX_BYTES, decode_index)
        for index_id, outcome in zip(fresh, outcomes, strict=True):
            if isinstance(outcome, _Failed):
                self.unreadable_indexes[index_id] = outcome.reason
                log.warning(
                    "skipping unreadable index object %s: %s; its packs are re-indexed from"
                    " their own tables",
                    index_key(index_id),
                    outcome.reason,
                )
            elif outcome is not None:
                self._merge(outcome)
                self.index_ids.add(index_id)

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
        encoded = encode_metadata(index, MAX_INDEX_BYTES, "an index object")
        index_id, data = self.objects.seal_object(ObjectKind.INDEX, encoded)
        self.store.put(index_key(index_id), data)
        self._cache.put(index_key(index_id), data)
        self._merge(index)
        with self._lock:
            self.index_ids.add(index_id)
            self.unreadable_indexes.pop(index_id, None)  # rewritten whole: readable again
        return index_id

    def write_indexes(self, index: IndexObject) -> set[str]:
        """Stores `index` as as many objects as keep each under MAX_INDEX_RECORDS records
        (a whole repository's index from prune or adoption can exceed what readers accept)."""
        parts: list[IndexObject] = [{}]
        count = 0
        for pack_id, records in index.items():
            if count and count + len(records) > MAX_INDEX_RECORDS:
                parts.append({})
                count = 0
            parts[-1][pack_id] = records
            count += len(records)
        return {self.write_index(part) for part in parts}

    def stored_packs(self) -> dict[str, int]:
        """Every pack object in the store: id → size."""
        return self.listed(DATA_PREFIX)

    def adopt_orphan_packs(self) -> int:
        """Indexes the packs no index names (left by a killed create, or named only by an
        unreadable index object) from their own tables; returns how many."""
        stored = self.stored_packs()
        orphans = [pack_id for pack_id in stored if pack_id not in self.packs]
        adopted: IndexObject = {}
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            tables = pool.map(lambda p: self._pack_table(p, stored[p]), orphans)
            for pack_id, records in zip(orphans, tables, strict=True):
                if records is not None:
                    adopted[pack_id] = records
        if adopted:
            self.write_indexes(adopted)
            log.info("adopted %d pack(s) that no readable index named", len(adopted))
        return len(adopted)

    def _pack_table(self, pack_id: str, size: int) -> list[BlobRecord] | None:
        """The pack's own table (two ranged GETs), or None with a warning if it is damaged."""
        key = pack_key(pack_id)
        try:
            trailer = self.store.get(key, max(0, size - PACK_TRAILER_BYTES), PACK_TRAILER_BYTES)
            length = table_length(trailer, size)
            start = size - PACK_TRAILER_BYTES - length
            table = self.store.get(key, start, length)
            if len(table) != length:
                raise PackFormatError(f"pack is shorter than the {size} bytes listed")
            return decode_table(self.objects.open_table(table), start)
        except Undecodable as error:
            log.warning("ignoring damaged pack %s: its table %s", key, error)
            return None
        except (PackFormatError, ObjectNotFound) as error:
            log.warning("ignoring damaged pack %s: %s", key, error)
            return None

    # ---- snapshots -----------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        return list(self.listed(SNAPSHOT_PREFIX))

    def pinned_ids(self) -> set[str]:
        return set(self.listed(PIN_PREFIX))

    def manifest(self, snapshot_id: str) -> Manifest:
        """One snapshot's manifest; IntegrityError (one line, naming it) if it does not decode."""
        if not is_object_id(snapshot_id):
            raise SnapshotNotFound(f"{snapshot_id[:70]!r} is not a snapshot id")
        key = snapshot_key(snapshot_id)
        try:
            return decode_manifest(self._cache.read(key, MAX_MANIFEST_BYTES))
        except Undecodable as error:
            raise corrupt(key, self.store.describe(), error) from None

    def catalog(self) -> Catalog:
        """Every snapshot, the readable ones oldest first: one unreadable manifest never
        hides the others. A snapshot forgotten while this lists is left out."""
        found = self.listed(SNAPSHOT_PREFIX)
        ids = list(found)
        pinned = self.pinned_ids()
        listed = [(snapshot_key(i), size) for i, size in found.items()]
        outcomes = self._read_all(listed, MAX_MANIFEST_BYTES, decode_manifest)
        catalog = Catalog()
        for snapshot_id, outcome in zip(ids, outcomes, strict=True):
            is_pinned = snapshot_id in pinned
            if isinstance(outcome, _Failed):
                catalog.unreadable.append(
                    UnreadableSnapshot(snapshot_id, outcome.reason, is_pinned)
                )
            elif outcome is not None:
                catalog.readable.append(SnapshotInfo(snapshot_id, outcome, is_pinned))
        catalog.readable.sort(key=lambda info: (info.manifest.time, info.id))
        catalog.unreadable.sort(key=lambda bad: bad.id)
        return catalog

    def snapshots(self) -> list[SnapshotInfo]:
        """Every readable snapshot, oldest first; each unreadable one is logged and left out
        (so `latest` and a create's parent are the newest readable snapshot)."""
        catalog = self.catalog()
        for bad in catalog.unreadable:
            log.warning("skipping unreadable snapshot %s: %s", bad.id[:12], bad.reason)
        return catalog.readable

    def resolve(self, reference: str, candidates: Iterable[SnapshotInfo] | None = None) -> str:
        """A full readable snapshot's id from a unique prefix, or `latest`."""
        infos = list(candidates) if candidates is not None else self.snapshots()
        if reference == "latest":
            return latest(infos, self.store.describe())
        return match(reference, [info.id for info in infos], self.store.describe())

    def resolve_in(self, reference: str, catalog: Catalog) -> str:
        """Like `resolve`, but a prefix may name an unreadable snapshot too (to forget it)."""
        if reference == "latest":
            return latest(catalog.readable, self.store.describe())
        return match(reference, catalog.ids(), self.store.describe())

    def pick(self, reference: str, catalog: Catalog) -> SnapshotInfo:
        """The snapshot `reference` names; IntegrityError naming it if it is unreadable."""
        wanted = self.resolve_in(reference, catalog)
        for info in catalog.readable:
            if info.id == wanted:
                return info
        bad = next(bad for bad in catalog.unreadable if bad.id == wanted)
        raise corrupt(snapshot_key(bad.id), self.store.describe(), bad.reason)

    def find(self, reference: str) -> SnapshotInfo:
        """The snapshot an id, a unique prefix or `latest` names (manifests read once)."""
        return self.pick(reference, self.catalog())

    def write_manifest(self, manifest: Manifest) -> str:
        """Writes a manifest once (conditional create): the snapshot's commit point."""
        encoded = encode_metadata(manifest, MAX_MANIFEST_BYTES, "the manifest")
        snapshot_id, data = self.objects.seal_object(ObjectKind.MANIFEST, encoded)
        with contextlib.suppress(ObjectExists):  # same content, same id: already committed
            self.store.put(snapshot_key(snapshot_id), data, if_absent=True)
        self._cache.put(snapshot_key(snapshot_id), data)
        return snapshot_id

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Deletes a manifest; its data stays until `prune` finds it unreferenced."""
        self.store.delete(snapshot_key(snapshot_id))
        self.forget_cached(snapshot_key(snapshot_id))

    def pin(self, snapshot_id: str) -> None:
        self.store.put(pin_key(snapshot_id), b"")

    def unpin(self, snapshot_id: str) -> None:
        self.store.delete(pin_key(snapshot_id))

    def forget_cached(self, key: str) -> None:
        self._cache.forget(key)


def _decoded(data: bytes | _Failed | None, decode: Callable[[bytes], T]) -> T | _Failed | None:
    if not isinstance(data, bytes):
        return data
    try:
        return decode(data)
    except Undecodable as error:
        return _Failed(str(error))
