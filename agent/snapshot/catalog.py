"""Which snapshots a repository holds, readable or not, and how a reference names one.

A manifest that does not decode (damaged, or planted by whoever can write the bucket) must
not hide the others: it is listed apart with its reason, `latest` is the newest readable
snapshot, and an id or prefix can still name the unreadable one so it can be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SnapshotNotFound
from .format import Manifest


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: str
    manifest: Manifest
    pinned: bool


@dataclass(frozen=True, slots=True)
class UnreadableSnapshot:
    """A snapshot whose manifest does not decode: `reason` is one line."""

    id: str
    reason: str
    pinned: bool


@dataclass(frozen=True)
class Catalog:
    """Every snapshot: the readable ones oldest first, and those whose manifest is unreadable."""

    readable: list[SnapshotInfo] = field(default_factory=list)
    unreadable: list[UnreadableSnapshot] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [info.id for info in self.readable] + [bad.id for bad in self.unreadable]

    def pinned(self) -> set[str]:
        everyone: list[SnapshotInfo | UnreadableSnapshot] = [*self.readable, *self.unreadable]
        return {snapshot.id for snapshot in everyone if snapshot.pinned}


def latest(readable: list[SnapshotInfo], where: str) -> str:
    """The newest readable snapshot's id (`readable` oldest first)."""
    if not readable:
        raise SnapshotNotFound(f"{where} holds no readable snapshot")
    return readable[-1].id


def match(reference: str, ids: list[str], where: str) -> str:
    """The one id among `ids` that `reference` is a prefix of; SnapshotNotFound otherwise."""
    matches = [i for i in ids if i.startswith(reference)]
    if len(matches) != 1:
        what = "no snapshot" if not matches else f"{len(matches)} snapshots"
        raise SnapshotNotFound(f"{what} with id {reference!r} in {where}")
    return matches[0]
