"""The fence in the repository: epoch claims, and the guard around a manifest write.

Layout, under the repository's prefix (beside `config`, `data/`, `snapshots/`, ...):

    fences/<instance id>/<epoch, 20 digits>    JSON {instance_id, epoch, host, claimed_at}

A host that takes epoch N writes its claim with a conditional create (`if_absent`: S3
`If-None-Match: *`, `link(2)` on a directory); claims are never deleted or overwritten.
The zero padding makes a listing sort by epoch.

Before writing a manifest the agent claims its epoch (idempotent) and lists the claims of
its instance; a higher one means a newer placement exists, so it does not commit. It lists
again right after the write and deletes its manifest if a higher claim appeared in between.

Why this is safe enough: it is the second line. The first is the control plane, which only
records snapshot ids from results of the instance's current placement, and restores (wake,
failover) only snapshots it recorded, so a snapshot of an old host is never restored even
while its manifest is briefly visible. What the repository check adds is that a
partitioned old host cannot leave a manifest behind that looks like the newest one to
anything reading the repository directly (`snapshot list`, `restore latest`). The one gap:
an old host that dies between its write and its re-check leaves a complete, valid but
unrecorded snapshot; it holds data alive (a leak until it is forgotten by id), it never
corrupts anything. Both checks rely on the store listing what was written before (S3 and
local directories are strongly consistent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from torpor.common.timestamps import utc_now

from ..snapshot.placement import SnapshotFenced
from ..snapshot.store.base import ObjectExists, ObjectStore

log = logging.getLogger(__name__)

FENCE_PREFIX = "fences/"
EPOCH_DIGITS = 20  # a uint64 in decimal


def claims_prefix(instance_id: str) -> str:
    return f"{FENCE_PREFIX}{instance_id}/"


def claim_key(instance_id: str, epoch: int) -> str:
    """`fences/<instance id>/<epoch zero-padded to 20 digits>`."""
    return f"{claims_prefix(instance_id)}{epoch:0{EPOCH_DIGITS}d}"


def claim(store: ObjectStore, instance_id: str, epoch: int) -> None:
    """Claims `epoch` for the instance; claiming it again is a no-op."""
    body = {
        "instance_id": instance_id,
        "epoch": epoch,
        "host": socket.gethostname(),
        "claimed_at": utc_now().isoformat(),
    }
    with contextlib.suppress(ObjectExists):
        store.put(claim_key(instance_id, epoch), json.dumps(body).encode(), if_absent=True)


def newest_claim(store: ObjectStore, instance_id: str) -> int:
    """The highest epoch claimed for the instance; 0 when none is."""
    prefix = claims_prefix(instance_id)
    epochs = [
        int(name)
        for info in store.list(prefix)
        if (name := info.key[len(prefix) :]).isdigit()  # ignore anything else found there
    ]
    return max(epochs, default=0)


def _never_fenced() -> str | None:
    return None


@dataclass(frozen=True)
class EpochGuard:
    """A `CommitGuard` for one placement: commit only while no higher epoch is claimed
    and (`fenced_here`) this host has not been fenced since the snapshot began."""

    instance_id: str
    epoch: int
    fenced_here: Callable[[], str | None] = _never_fenced

    def before_commit(self, store: ObjectStore) -> None:
        self._check_here("not written")
        claim(store, self.instance_id, self.epoch)
        self._check(store, "not written")

    def after_commit(self, store: ObjectStore) -> None:
        self._check(store, "deleted again")
        self._check_here("deleted again")

    def _check_here(self, outcome: str) -> None:
        reason = self.fenced_here()
        if reason is not None:
            raise SnapshotFenced(f"{reason}: the snapshot manifest was {outcome}")

    def _check(self, store: ObjectStore, outcome: str) -> None:
        newest = newest_claim(store, self.instance_id)
        if newest > self.epoch:
            raise SnapshotFenced(
                f"epoch {newest} of instance {self.instance_id} claimed {store.describe()} "
                f"after this host's epoch {self.epoch}: the snapshot manifest was {outcome}"
            )
