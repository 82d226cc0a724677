"""Repository locks: `create` shares, `prune` excludes, and both check after writing.

Object stores have no atomic test-and-set across keys, so each operation first writes
its own lock object, then lists the others: if a conflicting live lock is there it
withdraws. Two conflicting operations may both withdraw, but never both proceed. A lock
is refreshed while held and ignored once stale (its holder was killed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import msgspec

from torpor.common.timestamps import utc_now

from .errors import RepositoryBusy
from .format import LOCK_PREFIX
from .store.base import ObjectNotFound, ObjectStore, StoreError

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 300.0
STALE_AFTER_S = 1800.0


class LockRecord(msgspec.Struct):
    kind: str  # "shared" | "exclusive"
    host: str
    pid: int
    operation: str
    created: str
    refreshed: str


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
                f"{store.describe()} is in use by {holder.operation} on {holder.host}"
                f" (pid {holder.pid}, since {holder.created}); try again when it ends"
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


def _write(
    store: ObjectStore, key: str, kind: str, operation: str, pid: int | None = None
) -> LockRecord:
    now = utc_now().isoformat()
    holder = os.getpid() if pid is None else pid
    record = LockRecord(kind, socket.gethostname(), holder, operation, now, now)
    store.put(key, msgspec.json.encode(record))
    return record


def _conflicting(store: ObjectStore, own: str, kind: str, stale_s: float) -> LockRecord | None:
    for info in store.list(LOCK_PREFIX):
        if info.key == own:
            continue
        try:
            other = msgspec.json.decode(store.get(info.key), type=LockRecord)
        except (ObjectNotFound, msgspec.DecodeError):
            continue  # released meanwhile, or not a lock
        if _stale(other, stale_s):
            log.info("ignoring stale lock %s of %s on %s", info.key, other.operation, other.host)
            continue
        if _conflicts(kind, other.kind):
            return other
    return None


def _stale(record: LockRecord, stale_s: float) -> bool:
    """Not refreshed for `stale_s`, or held by a process of this host that no longer exists."""
    if utc_now() - datetime.fromisoformat(record.refreshed) > timedelta(seconds=stale_s):
        return True
    if record.host != socket.gethostname():
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _refresh(store: ObjectStore, key: str, record: LockRecord, stop: threading.Event) -> None:
    while not stop.wait(REFRESH_INTERVAL_S):
        record.refreshed = utc_now().isoformat()
        try:
            store.put(key, msgspec.json.encode(record))
        except StoreError as error:
            log.warning("could not refresh lock %s: %s", key, error)
