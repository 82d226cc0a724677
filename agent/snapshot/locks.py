"""Repository locks: `create` shares, `prune` excludes, and both check after writing.

Object stores have no atomic test-and-set across keys, so each operation first writes
its own lock object, then lists the others: if a conflicting live lock is there it
withdraws. Two conflicting operations may both withdraw, but never both proceed. A lock
is refreshed while held.

Every listing also removes what protects nothing, once, so abandoned locks neither pile
up nor are reported on every run:
- a stale lock: not refreshed within `STALE_AFTER_S`, or its holder provably gone
  (holders.py: same host, boot and pid namespace, and the pid gone or reused);
- an object under `locks/` that is not a lock record (undecodable, or over
  `MAX_LOCK_BYTES`, which is refused unread). It is removed at once, with a warning,
  not after a TTL: stores write objects whole (temp file and rename; S3 PUT), so no
  lock is ever seen half-written, and records only ever gain fields (msgspec ignores
  unknown ones), so a newer agent's lock still decodes here. An object that does not
  decode is nobody's lock; the store gives no object age to wait on.
A holder whose lock was removed while it still ran (it missed every refresh for the
whole TTL) writes it again at its next refresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import msgspec

from torpor.common.timestamps import utc_now

from . import holders
from .errors import RepositoryBusy
from .format import LOCK_PREFIX
from .store.base import ObjectInfo, ObjectNotFound, ObjectStore, StoreError

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 300.0
STALE_AFTER_S = 1800.0
MAX_LOCK_BYTES = 64 * 1024
"""A record is ~300 bytes; anything larger under locks/ is not one and is not read."""


class LockRecord(msgspec.Struct):
    """One lock object. Fields are only ever added, with defaults, so old records decode."""

    kind: str  # "shared" | "exclusive"
    host: str
    pid: int
    operation: str
    created: str
    refreshed: str
    started: int = 0
    """The holder's start time, clock ticks after boot (/proc/<pid>/stat field 22); 0: unknown."""
    boot_id: str = ""
    """The kernel's boot id when written: pids of another boot mean nothing."""
    pid_namespace: str = ""
    """The holder's pid namespace (`pid:[inode]`): pids of another container mean nothing."""

    def describe(self) -> str:
        return f"{self.operation} on {self.host} (pid {self.pid}, since {self.created})"


class RemovedLock(msgspec.Struct):
    """A lock object that was removed, and why; `record` is None for one that was no lock."""

    key: str
    reason: str
    record: LockRecord | None = None


class UnlockReport(msgspec.Struct):
    """What `unlock` removed, and how many live locks it left in place."""

    removed: list[RemovedLock]
    kept: int


def _conflicts(mine: str, theirs: str) -> bool:
    return mine == "exclusive" or theirs == "exclusive"


@contextlib.contextmanager
def hold(
    store: ObjectStore,
    kind: str,
    operation: str,
    *,
    wait_s: float = 0.0,
    stale_after_s: float = STALE_AFTER_S,
) -> Iterator[None]:
    """Holds a lock of `kind` for the block; raises RepositoryBusy if one conflicts."""
    key = f"{LOCK_PREFIX}{uuid.uuid4().hex}"
    deadline = time.monotonic() + wait_s
    while True:
        record = _write(store, key, kind, operation)
        holder = _conflicting(store, key, kind, stale_after_s)
        if holder is None:
            break
        store.delete(key)
        if time.monotonic() >= deadline:
            raise RepositoryBusy(
                f"{store.describe()} is in use by {holder.describe()}; try again when it ends"
                f" (a dead holder's lock expires {stale_after_s / 60:.0f} min after its last"
                " refresh; `torpor-agent snapshot unlock --all` removes it sooner)"
            )
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
    stop = threading.Event()
    refresher = threading.Thread(
        target=_refresh, args=(store, key, record, stop), name="lock-refresh", daemon=True
    )
    refresher.start()
    try:
        yield
    finally:
        stop.set()
        refresher.join()
        with contextlib.suppress(StoreError):
            store.delete(key)


def remove_stale(store: ObjectStore, stale_after_s: float = STALE_AFTER_S) -> UnlockReport:
    """Removes every stale lock and every object that is not a lock; keeps live ones."""
    live, removed = _sweep(store, stale_after_s)
    return UnlockReport(removed, kept=len(live))


def remove_all(store: ObjectStore) -> UnlockReport:
    """Removes every lock, live ones too: only safe when nothing else uses the repository."""
    live, removed = _sweep(store, STALE_AFTER_S)
    for key, record in live:
        store.delete(key)
        log.warning("removed live lock %s of %s", key, record.describe())
        removed.append(RemovedLock(key, "live, removed with --all", record))
    return UnlockReport(removed, kept=0)


def _write(
    store: ObjectStore, key: str, kind: str, operation: str, pid: int | None = None
) -> LockRecord:
    now = utc_now().isoformat()
    holder = os.getpid() if pid is None else pid
    here = holders.here()
    record = LockRecord(
        kind,
        here.host,
        holder,
        operation,
        now,
        now,
        started=holders.start_ticks(holder),
        boot_id=here.boot_id,
        pid_namespace=here.pid_namespace,
    )
    store.put(key, msgspec.json.encode(record))
    return record


def _conflicting(store: ObjectStore, own: str, kind: str, stale_s: float) -> LockRecord | None:
    live, _ = _sweep(store, stale_s, skip=own)
    return next((record for _, record in live if _conflicts(kind, record.kind)), None)


def _sweep(
    store: ObjectStore, stale_s: float, skip: str = ""
) -> tuple[list[tuple[str, LockRecord]], list[RemovedLock]]:
    """The live locks (key, record) and those removed as stale or as no lock at all."""
    live: list[tuple[str, LockRecord]] = []
    removed: list[RemovedLock] = []
    for info in store.list(LOCK_PREFIX):
        if info.key == skip:
            continue
        try:
            record = _read(store, info)
        except ObjectNotFound:
            continue  # released meanwhile
        reason = "not a lock record" if record is None else _stale_reason(record, stale_s)
        if record is not None and reason is None:
            live.append((info.key, record))
        else:
            removed.append(_remove(store, info, record, reason or ""))
    return live, removed


def _remove(
    store: ObjectStore, info: ObjectInfo, record: LockRecord | None, reason: str
) -> RemovedLock:
    """Deletes a lock object that protects nothing, saying so once, here."""
    store.delete(info.key)
    if record is None:
        log.warning("removed %s: not a lock record (%d bytes)", info.key, info.size)
    else:
        log.info("removed stale lock %s of %s: %s", info.key, record.describe(), reason)
    return RemovedLock(info.key, reason, record)


def _read(store: ObjectStore, info: ObjectInfo) -> LockRecord | None:
    """The record, or None for an object that is not one; never reads past the bound."""
    if info.size > MAX_LOCK_BYTES:
        return None
    data = store.get(info.key, 0, MAX_LOCK_BYTES + 1)  # the size may have changed since
    if len(data) > MAX_LOCK_BYTES:
        return None
    try:
        record = msgspec.json.decode(data, type=LockRecord)
    except msgspec.DecodeError:
        return None
    return record if _refreshed_at(record) is not None else None


def _refreshed_at(record: LockRecord) -> datetime | None:
    """When the record was last refreshed; None unless an aware ISO 8601 time."""
    try:
        moment = datetime.fromisoformat(record.refreshed)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _stale_reason(record: LockRecord, stale_s: float) -> str | None:
    """Why the lock protects nothing any more, or None while it may still be held."""
    refreshed = _refreshed_at(record)
    if refreshed is None:
        return "its refresh time is not a time"
    age_s = (utc_now() - refreshed).total_seconds()
    if age_s > stale_s:
        return f"not refreshed for {age_s:.0f} s (stale after {stale_s:.0f} s)"
    if record.host == holders.here().host and holders.gone(
        record.pid, record.started, record.boot_id, record.pid_namespace
    ):
        return f"process {record.pid} no longer runs on {record.host}"
    return None


def _refresh(store: ObjectStore, key: str, record: LockRecord, stop: threading.Event) -> None:
    while not stop.wait(REFRESH_INTERVAL_S):
        record.refreshed = utc_now().isoformat()
        try:
            store.put(key, msgspec.json.encode(record))
        except StoreError as error:
            log.warning("could not refresh lock %s: %s", key, error)
