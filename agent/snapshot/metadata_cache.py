"""Reads of immutable objects (index, manifest) through a local cache checked by hash.

These objects are named by the hash of their content, so a cached copy is used only if it
still opens as the object its name says (object_format.py: the plain hash, or the seal and
keyed hash of an encrypted repository): the cache can be deleted, torn or tampered with and
never serve wrong bytes. It holds objects as stored, so an encrypted repository's stay
sealed on the host's disk too. Its file names are built only from keys whose id validates
(format.id_from_key), so a hostile key can never write outside `<cache dir>/<repository id>/`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from torpor.common.atomic import atomic_write_bytes

from .decoding import Undecodable, compressed_bound, read_bounded
from .format import id_from_key
from .object_format import ObjectFormat
from .store.base import ObjectStore

log = logging.getLogger(__name__)


class MetadataCache:
    """`read` an immutable object, from `root` if cached there; no cache when root is None."""

    def __init__(self, store: ObjectStore, root: Path | None, objects: ObjectFormat) -> None:
        self._store = store
        self._root = root
        self._objects = objects

    def read(self, key: str, max_bytes: int, listed_size: int | None = None) -> bytes:
        """The object's encoded bytes, checked to be the object its key names. Raises
        Undecodable if they are not, or the object is bigger than a `max_bytes` object
        compresses to (refused unread when its `listed_size` says so); the store's errors
        otherwise."""
        if id_from_key(key) is None:
            raise Undecodable(f"{key!r} is not a key of this format")
        limit = compressed_bound(max_bytes) + self._objects.overhead
        if listed_size is not None and listed_size > limit:
            raise Undecodable(f"it is {listed_size} bytes, over the {limit}-byte limit")
        cached = self._get(key, limit)
        if cached is not None:
            try:
                return self._objects.open_object(key, cached)
            except Undecodable:
                self.forget(key)
        data = read_bounded(self._store, key, limit if listed_size is None else listed_size)
        encoded = self._objects.open_object(key, data)
        self.put(key, data)
        return encoded

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            atomic_write_bytes(path, data, mode=0o600)
        except OSError as error:  # the cache only speeds things up
            log.debug("cache write %s failed: %s", key, error)

    def forget(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def _path(self, key: str) -> Path | None:
        if self._root is None or id_from_key(key) is None:
            return None
        return self._root / key

    def _get(self, key: str, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            with path.open("rb") as cached:
                data = cached.read(max_bytes + 1)
        except OSError:
            return None
        return data if len(data) <= max_bytes else None
