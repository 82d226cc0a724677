"""`snapshot verify`: every snapshot's chunks are indexed and every indexed pack exists.

With `--read-data` every pack is read back whole: its hash must equal its id and every
chunk must decode to bytes that hash to the chunk's id. Problems are collected, not
raised, so one run reports all of them: a manifest or index object that does not decode is
one problem each, and the rest of the repository is still checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import CodecError
from .decoding import Undecodable, check_records
from .format import content_id, index_key, pack_key, snapshot_key
from .parallel import run_all
from .progress import Progress
from .repository import Repository


@dataclass
class VerifyReport:
    snapshots: int = 0
    packs: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    repository: Repository, *, read_data: bool, threads: int, progress: Progress
) -> VerifyReport:
    report = VerifyReport()
    repository.load_index()
    for index_id, reason in sorted(repository.unreadable_indexes.items()):
        report.problems.append(f"index object {index_key(index_id)} is unreadable: {reason}")
    stored = repository.stored_packs()
    _check_packs(repository, stored, report)
    catalog = repository.catalog()
    for bad in catalog.unreadable:
        report.snapshots += 1
        report.problems.append(f"snapshot {snapshot_key(bad.id)} is unreadable: {bad.reason}")
    for info in catalog.readable:
        report.snapshots += 1
        missing = info.manifest.chunk_ids() - repository.chunks.keys()
        if missing:
            report.problems.append(
                f"snapshot {info.id[:12]} references {len(missing)} chunk(s) in no index"
            )
    report.packs = len(repository.packs)
    report.chunks = len(repository.chunks)
    if read_data:
        packs = [p for p in repository.packs if p in stored]
        progress.set_totals(len(packs), sum(stored[p] for p in packs))
        run_all(threads, lambda p: _read_pack(repository, p, report, progress), packs, "verify")
    return report


def _check_packs(repository: Repository, stored: dict[str, int], report: VerifyReport) -> None:
    """Every indexed pack exists and holds every blob its index records place in it."""
    for pack_id, records in repository.packs.items():
        if pack_id not in stored:
            report.problems.append(f"pack {pack_key(pack_id)} is indexed but missing")
            continue
        try:
            check_records(records, stored[pack_id])
        except Undecodable as error:
            report.problems.append(f"pack {pack_key(pack_id)} is shorter than indexed: {error}")


def _read_pack(
    repository: Repository, pack_id: str, report: VerifyReport, progress: Progress
) -> None:
    key = pack_key(pack_id)
    data = repository.store.get(key)
    progress.add(files=1, nbytes=len(data))
    if content_id(data) != pack_id:
        report.problems.append(f"pack {key} does not match its hash")
        return
    view = memoryview(data)
    for record in repository.packs[pack_id]:
        stored = view[record.offset : record.offset + record.stored_length]
        try:
            repository.open_chunk(record.chunk_id, record.codec, stored, record.raw_length)
        except CodecError as error:
            report.problems.append(f"chunk {record.chunk_id.hex()[:16]} in {key} {error}")
