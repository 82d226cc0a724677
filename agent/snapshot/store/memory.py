"""An in-memory store for unit tests: the reference behaviour of the interface."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from .base import ObjectExists, ObjectInfo, ObjectNotFound


class MemoryStore:
    """Objects in a dict, guarded by a lock so the engine's threads can share it."""

    def __init__(self, name: str = "test") -> None:
        self._name = name
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"memory://{self._name}"

    def put(self, key: str, data: bytes | memoryview, *, if_absent: bool = False) -> None:
        with self._lock:
            if if_absent and key in self._objects:
                raise ObjectExists(f"{self.describe()}/{key} already exists")
            self._objects[key] = bytes(data)

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with self._lock:
            try:
                data = self._objects[key]
            except KeyError:
                raise ObjectNotFound(f"{self.describe()}/{key} does not exist") from None
        end = len(data) if length is None else start + length
        return data[start:end]

    def size(self, key: str) -> int:
        return len(self.get(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            listed = [
                ObjectInfo(k, len(v)) for k, v in self._objects.items() if k.startswith(prefix)
            ]
        return iter(listed)

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def close(self) -> None:
        return None
