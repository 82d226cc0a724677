"""An ObjectStore wrapper that fails chosen operations, for tests of the engine's error paths.

Faults are planned up front (the Nth put, puts under a prefix, gets of one key) so a test
reads as a scenario; every call is recorded, failed or not, so a test can assert the order
of writes (packs before index before manifest).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from torpor.agent.snapshot.store.base import ObjectInfo, ObjectStore, StoreError


@dataclass
class FaultyStore:
    """Delegates to `inner`, raising `error` where a fault is planned.

    fail_put_number: the Nth put (1-based, counted over all keys) fails.
    fail_put_prefix: every put of a key starting with this fails.
    fail_get_key: every get (and size) of this key fails.
    """

    inner: ObjectStore
    error: StoreError = field(default_factory=lambda: StoreError("injected fault"))
    fail_put_number: int | None = None
    fail_put_prefix: str | None = None
    fail_get_key: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(operation, key) for every call, in order."""
    _puts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> str:
        return f"faulty+{self.inner.describe()}"

    def put(self, key: str, data: bytes | memoryview, *, if_absent: bool = False) -> None:
        with self._lock:
            self.calls.append(("put", key))
            self._puts += 1
            number = self._puts
        if number == self.fail_put_number or (
            self.fail_put_prefix is not None and key.startswith(self.fail_put_prefix)
        ):
            raise self.error
        self.inner.put(key, data, if_absent=if_absent)

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        self._record("get", key)
        return self.inner.get(key, start, length)

    def size(self, key: str) -> int:
        self._record("size", key)
        return self.inner.size(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._record("list", prefix)
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._record("delete", key)
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()

    def _record(self, operation: str, key: str) -> None:
        with self._lock:
            self.calls.append((operation, key))
        if operation in ("get", "size") and key == self.fail_get_key:
            raise self.error
