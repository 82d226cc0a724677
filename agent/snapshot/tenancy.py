"""Whose data this host's caches may hold: no instance's but the one it serves.

A warm standby prefetches for several instances, possibly of several teams (a shared
pool: their ciphertext). Once it is assigned instance I it serves I's team, whose users
may have root on it, so before I's workload can start — before the Assign is taken and
again before the restore writes I's workspace — everything cached that is not I's is
deleted (design.md "Warm pools", tenant isolation):

1. the tenant becomes I, under the lock every cache write holds (chunk_cache.Admit), so
   a prefetch for another instance still running writes nothing more;
2. every partition but I's, and anything unattributed, is *renamed* into
   `<state dir>/cache-discarded/` (one rename each, atomic): from that moment the cache
   holds only I's;
3. that folder is deleted. A crash before 3 leaves it for the next start (`sweep`); a
   crash in 2 leaves the Assign untaken, and the control plane sends it again, so the
   wipe is redone before I's workload starts.

Deleting does not scrub the disk's blocks: that is why a shared pool's standbys only ever
cache ciphertext (design.md "Threat model").
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .chunk_cache import PARTITIONS
from .errors import SnapshotError
from .operations import Settings

log = logging.getLogger(__name__)

TRASH = "cache-discarded"
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class CacheTenancy:
    """The cache's partitions and its tenant; thread-safe (prefetch workers ask it)."""

    def __init__(self, cache_dir: Path, tenant: str | None = None) -> None:
        self.cache_dir = cache_dir
        self._trash = cache_dir.parent / TRASH
        self._tenant = tenant
        self._lock = threading.Lock()

    @property
    def tenant(self) -> str | None:
        """The instance this host serves; None: a standby (it may prefetch for any)."""
        return self._tenant

    def partition(self, instance_id: str) -> Path:
        """The cache folder of one instance (the unattributed root for "")."""
        if not instance_id:
            return self.cache_dir
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise SnapshotError(f"instance id {instance_id!r} cannot name a cache partition")
        return self.cache_dir / PARTITIONS / instance_id

    @contextlib.contextmanager
    def admit(self, instance_id: str) -> Iterator[bool]:
        """Held around a cache write for `instance_id`: True while the host may hold it."""
        with self._lock:
            yield self._tenant is None or self._tenant == instance_id

    def refuse_unless_mine(self, instance_id: str) -> None:
        """Raises SnapshotError for a prefetch of another instance than the tenant's."""
        tenant = self._tenant
        if tenant is not None and tenant != instance_id:
            raise SnapshotError(
                f"this host serves instance {tenant}: it caches nothing of"
                f" {instance_id or 'an unnamed instance'}"
            )

    def claim(self, instance_id: str | None, *, sweep: bool = True) -> int:
        """The host serves `instance_id` (None: an instance it cannot name, so nothing is
        kept) from now on: every other cache content is moved out at once and, with
        `sweep`, deleted before this returns. Returns how many folders went."""
        with self._lock:
            self._tenant = instance_id
            moved = self._move_out(instance_id)
        if moved:
            log.info(
                "cache: %d folder(s) of other instances removed before serving %s",
                moved,
                instance_id or "this host's instance",
            )
        if sweep:
            self.sweep()
        return moved

    def settings_for(self, settings: Settings, instance_id: str) -> Settings:
        """`settings` caching into `instance_id`'s partition, bounded over every partition,
        each write admitted only while the host may hold that instance's data."""
        return replace(
            settings,
            cache_dir=self.partition(instance_id),
            cache_scope=self.cache_dir,
            cache_admit=lambda: self.admit(instance_id),
        )

    def sweep(self) -> None:
        """Deletes what earlier claims moved out (also at start: a crash may have left it)."""
        if not self._trash.exists():
            return
        shutil.rmtree(self._trash, onerror=_complain)

    def _move_out(self, keep: str | None) -> int:
        if not self.cache_dir.is_dir():
            return 0
        doomed = [e for e in self.cache_dir.iterdir() if e.name != PARTITIONS]
        partitions = self.cache_dir / PARTITIONS
        if partitions.is_dir():
            doomed += [p for p in partitions.iterdir() if p.name != keep]
        if doomed:
            self._trash.mkdir(parents=True, exist_ok=True)
        for entry in doomed:
            entry.rename(self._trash / uuid.uuid4().hex)  # same file system: atomic
        return len(doomed)


def _complain(_function: object, path: str, error: object) -> None:
    log.warning("cache: cannot delete %s (%s): another instance's data may remain", path, error)
