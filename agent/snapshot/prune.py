"""`snapshot prune`: delete the data no snapshot references, under an exclusive lock.

Order: write the new index (live packs only) → delete the old index objects → delete the
dead packs. A crash between steps leaves extra index objects or packs no index names,
both harmless; no step ever removes something a remaining manifest needs. Packs that are
mostly dead are repacked: their live chunks are verified and copied into new packs first.

Prune deletes by what the manifests and index objects say, so it refuses while one of them
does not decode: an unreadable manifest's chunks are unknown (forget it, or put back a good
copy), and the packs an unreadable index object named look like orphans. Those are adopted
from their own tables first; only if one still cannot be read does prune refuse.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .codec import CodecError
from .errors import IntegrityError
from .format import (
    BlobRecord,
    Codec,
    IndexObject,
    index_key,
    pack_key,
    snapshot_key,
)
from .pack import PackWriter, SealedPack
from .parallel import run_all
from .repository import Repository, SnapshotInfo

log = logging.getLogger(__name__)

REPACK_DEAD_FRACTION = 0.3


@dataclass
class PruneReport:
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    bytes_freed: int = 0
    index_objects_replaced: int = 0
    dry_run: bool = False


@dataclass
class _Plan:
    keep: IndexObject
    repack: dict[str, list[BlobRecord]]  # pack → its live records
    delete: list[str]


def prune(
    repository: Repository, *, dry_run: bool, threads: int, pack_size_bytes: int
) -> PruneReport:
    """The caller holds the exclusive lock. Raises IntegrityError, deleting nothing, while a
    manifest is unreadable or a pack is in no readable index and its table is damaged."""
    repository.load_index()
    snapshots = _readable_snapshots(repository)
    live = set().union(*(info.manifest.chunk_ids() for info in snapshots))
    stored = _all_indexed(repository, dry_run)
    plan = _plan(repository, live, stored)
    report = PruneReport(dry_run=dry_run, packs_repacked=len(plan.repack))
    doomed = plan.delete + list(plan.repack)
    report.packs_deleted = len(doomed)
    report.bytes_freed = sum(stored.get(p, 0) for p in doomed)
    if dry_run or not (doomed or repository.unreadable_indexes):
        return report  # (with one unreadable, the index is rewritten to drop that object)
    new_index = dict(plan.keep)
    for sealed in _repack(repository, plan.repack, threads, pack_size_bytes):
        new_index[sealed.pack_id] = sealed.records
        report.packs_written += 1
    # every stored pack is indexed now, so an unreadable index object names nothing unknown
    old_indexes = repository.index_ids | repository.unreadable_indexes.keys()
    new_ids = repository.write_indexes(new_index)
    for index_id in old_indexes - new_ids:
        repository.store.delete(index_key(index_id))
        repository.forget_cached(index_key(index_id))
        report.index_objects_replaced += 1
    run_all(threads, lambda p: repository.store.delete(pack_key(p)), doomed, "prune")
    return report


def _readable_snapshots(repository: Repository) -> list[SnapshotInfo]:
    catalog = repository.catalog()
    if catalog.unreadable:
        bad = catalog.unreadable[0]
        raise IntegrityError(
            f"prune refused: snapshot {bad.id[:12]} is unreadable ({bad.reason}), so the data"
            f" it needs is unknown ({len(catalog.unreadable)} unreadable in all): forget it"
            f" (`snapshot forget {bad.id[:12]}`) or put back a good copy of"
            f" {snapshot_key(bad.id)}, then prune again"
        )
    return catalog.readable


def _all_indexed(repository: Repository, dry_run: bool) -> dict[str, int]:
    """The stored packs, every one indexed: with an index object unreadable, an unindexed
    pack may be one it named, not an orphan, so its own table is indexed first."""
    stored = repository.stored_packs()
    if not repository.unreadable_indexes:
        return stored  # unindexed packs are a killed create's orphans: _plan deletes them
    if not dry_run:
        repository.adopt_orphan_packs()
    unindexed = [p for p in stored if p not in repository.packs]
    if unindexed:
        what = (
            f"prune refused: index object {index_key(min(repository.unreadable_indexes))} is"
            f" unreadable and {len(unindexed)} pack(s), e.g. {pack_key(unindexed[0])}, are in"
            " no readable index"
        )
        if dry_run:
            raise IntegrityError(f"{what}; a prune without --dry-run re-indexes them first")
        raise IntegrityError(
            f"{what} and their own tables are damaged, so what they hold is unknown;"
            " run `snapshot verify --read-data`"
        )
    return stored


def _plan(repository: Repository, live: set[bytes], stored: dict[str, int]) -> _Plan:
    plan = _Plan({}, {}, [])
    claimed: set[bytes] = set()
    for pack_id, records in repository.packs.items():
        if pack_id not in stored:
            continue  # indexed but gone: verify reports it; nothing to delete
        useful = [r for r in records if r.chunk_id in live and r.chunk_id not in claimed]
        claimed.update(r.chunk_id for r in useful)
        dead = 1 - sum(r.stored_length for r in useful) / max(
            1, sum(r.stored_length for r in records)
        )
        if not useful:
            plan.delete.append(pack_id)
        elif dead >= REPACK_DEAD_FRACTION:
            plan.repack[pack_id] = useful
        else:
            plan.keep[pack_id] = records
    plan.delete += [p for p in stored if p not in repository.packs]  # orphans of killed runs
    return plan


def _repack(
    repository: Repository, repack: dict[str, list[BlobRecord]], threads: int, pack_size: int
) -> list[SealedPack]:
    writer = PackWriter(pack_size, objects=repository.objects)
    sealed: list[SealedPack] = []
    lock = threading.Lock()

    def upload(pack: SealedPack | None) -> None:
        if pack is not None:
            try:
                repository.store.put(pack_key(pack.pack_id), pack.data)
            finally:
                pack.release()
            with lock:
                sealed.append(pack)

    def copy(pack_id: str) -> None:
        data = memoryview(repository.store.get(pack_key(pack_id)))
        for r in repack[pack_id]:
            blob = data[r.offset : r.offset + r.stored_length]
            try:
                repository.open_chunk(r.chunk_id, r.codec, blob, r.raw_length)
            except CodecError as error:
                raise IntegrityError(
                    f"chunk {r.chunk_id.hex()[:16]} in {pack_key(pack_id)} {error}:"
                    " prune stopped before deleting anything; run `snapshot verify --read-data`"
                ) from error
            upload(writer.add(r.chunk_id, Codec(r.codec), blob, r.raw_length, sealed=True))

    run_all(threads, copy, list(repack), "repack")
    upload(writer.flush())
    return sealed
