"""The interface every object store implements, and the errors it may raise.

The snapshot engine needs very little from a store: whole-object writes (optionally only
if absent), whole or ranged reads, listing by prefix and deletion. Keeping the interface
this small is what lets one conformance suite hold S3, a local directory and memory to
the same behaviour. Implementations are synchronous and thread-safe: the engine calls
them from a thread pool, because boto3 and file I/O block and compression releases the
GIL anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class StoreError(Exception):
    """A store operation failed; `str()` is one line naming the object and, where known, the fix."""


class ObjectNotFound(StoreError):
    """The object does not exist (a missing pack or manifest)."""


class ObjectExists(StoreError):
    """A conditional create found the key already taken (manifests are never overwritten)."""


class StoreAccessDenied(StoreError):
    """The credentials are missing, wrong, revoked, or lack permission for this key."""


class StoreFull(StoreError):
    """The store has no space left (a full disk under a local repository)."""


class StoreUnavailable(StoreError):
    """The store could not be reached, even after the bounded retries."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object."""

    key: str
    size: int


class ObjectStore(Protocol):
    """A flat namespace of immutable-by-convention objects under one prefix."""

    def describe(self) -> str:
        """Where the store lives, for messages: `s3://bucket/prefix`, `/srv/repo`, `memory://x`."""
        ...

    def put(self, key: str, data: bytes | memoryview, *, if_absent: bool = False) -> None:
        """Stores `data` at `key`, durably before returning.

        With `if_absent`, raises ObjectExists instead of replacing an existing object
        (S3 `If-None-Match: *`, `link(2)` on a directory), atomically.
        """
        ...

    def get(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        """The object's bytes, or `length` bytes from `start`; raises ObjectNotFound.

        A range past the end returns what exists (possibly fewer bytes than asked).
        """
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; raises ObjectNotFound."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in no particular order."""
        ...

    def delete(self, key: str) -> None:
        """Removes `key`; deleting a missing key is not an error (deletes are retried)."""
        ...

    def close(self) -> None:
        """Releases connections and threads."""
        ...
