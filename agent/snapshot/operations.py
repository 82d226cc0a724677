"""The snapshot operations as the CLI and the daemon use them, configured from agent.toml.

Each function opens the store, takes the right lock, runs one operation and closes the
store, so `torpor-agent snapshot …` on its own and the hibernate path behave the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import AgentConfig
from . import locks
from .chunk_cache import CHUNKS, Admit, ChunkCache
from .codec import Compression
from .create import CreateOptions, SnapshotCreator
from .crypto import KeyEncryptionKey
from .errors import SnapshotError, WorkspaceError
from .format import Manifest
from .memory import keep_large_buffers_in_mmap
from .placement import CommitGuard
from .prefetch import Prefetched, prefetch
from .progress import Progress
from .prune import PruneReport, prune
from .repository import Catalog, Repository, SnapshotInfo
from .restore import Restorer
from .retention import RetentionPolicy, to_keep
from .store.base import ObjectStore
from .store.open import RepositoryURLError, open_store
from .verify import VerifyReport, verify

log = logging.getLogger(__name__)

MIN_THREADS = 4
CREATE_LOCK_WAIT_S = 900.0  # a prune in progress is waited for: a hibernation must not fail


@dataclass(frozen=True)
class Settings:
    """The `[snapshot]` section with command-line overrides applied."""

    repository: str
    workspace: Path | None
    compression: Compression
    pack_size_bytes: int
    threads: int
    excludes: list[str]
    cache_dir: Path
    config: AgentConfig
    chunk_cache_bytes: int = 0
    """Bound of the prefetched-chunk cache (`[snapshot] chunk_cache_mib`); 0: no cache."""
    trust_ownership: bool = False
    """Restore the manifest's owners and setuid/setgid bits (`[snapshot] trust_ownership`)."""
    key: KeyEncryptionKey | None = field(default=None, repr=False)
    """What opens an encrypted repository (and encrypts a new one); None: unencrypted."""
    cache_scope: Path | None = None
    """The whole cache when `cache_dir` is one instance's partition (tenancy.py): the
    chunk cache's bound counts every partition."""
    cache_admit: Admit | None = field(default=None, repr=False)
    """Held around each chunk cached: False once the host serves another instance."""

    def chunk_cache(self) -> ChunkCache | None:
        if self.chunk_cache_bytes <= 0:
            return None
        return ChunkCache(
            self.cache_dir / CHUNKS,
            self.chunk_cache_bytes,
            scope=self.cache_scope,
            admit=self.cache_admit,
        )

    @classmethod
    def from_config(
        cls,
        config: AgentConfig,
        repository: str | None = None,
        workspace: Path | None = None,
        key: KeyEncryptionKey | None = None,
    ) -> Settings:
        section = config.snapshot
        url = repository or section.repository
        if not url:
            raise SnapshotError(
                "no repository: set [snapshot] repository in the config or pass --repository"
            )
        return cls(
            repository=url,
            workspace=workspace or section.workspace,
            compression=Compression.parse(section.compression),
            pack_size_bytes=section.pack_size_mib * 1024 * 1024,
            threads=section.threads or max(MIN_THREADS, os.cpu_count() or 1),
            excludes=list(section.exclude),
            cache_dir=config.state_dir() / "cache",
            config=config,
            chunk_cache_bytes=section.chunk_cache_mib * 1024 * 1024,
            trust_ownership=section.trust_ownership,
            key=key,
        )


@contextmanager
def opened_store(settings: Settings) -> Iterator[ObjectStore]:
    """The store at `settings.repository`, closed after."""
    try:
        store = open_store(settings.repository, s3=settings.config.snapshot.s3)
    except RepositoryURLError as error:
        raise SnapshotError(f"[snapshot] repository: {error}") from error
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _repository(settings: Settings, *, init: bool = False) -> Iterator[Repository]:
    """The repository at `settings.repository` (created first when `init`: encrypted when
    the settings hold a key), opened with the settings' key, closed after."""
    with opened_store(settings) as store:
        opener = Repository.open_or_init if init else Repository.open
        yield opener(store, settings.cache_dir, settings.key)


def create(
    settings: Settings,
    progress: Progress,
    *,
    tags: list[str],
    parent: str | None,
    keep: bool,
    guard: CommitGuard | None = None,
) -> tuple[str, Manifest]:
    if settings.workspace is None:
        raise SnapshotError("no workspace: set [snapshot] workspace or pass --workspace")
    if not settings.workspace.is_dir():  # before anything is written to the repository
        raise WorkspaceError(f"workspace {settings.workspace} does not exist or is not a directory")
    options = CreateOptions(
        workspace=settings.workspace.resolve(),
        compression=settings.compression,
        pack_size_bytes=settings.pack_size_bytes,
        threads=settings.threads,
        excludes=settings.excludes,
        tags=tags,
        parent=parent,
        guard=guard,
    )
    keep_large_buffers_in_mmap()
    with (
        _repository(settings, init=True) as repository,
        locks.hold(repository.store, "shared", "snapshot create", wait_s=CREATE_LOCK_WAIT_S),
    ):
        if parent is not None:
            options.parent = repository.resolve(parent)
        snapshot_id, manifest = SnapshotCreator(repository, options, progress).run()
        if keep:
            repository.pin(snapshot_id)
    return snapshot_id, manifest


def list_snapshots(settings: Settings) -> list[SnapshotInfo]:
    with _repository(settings) as repository:
        return repository.snapshots()


def catalog(settings: Settings) -> Catalog:
    """Every snapshot, the unreadable ones too (what `snapshot list` shows)."""
    with _repository(settings) as repository:
        return repository.catalog()


def show(settings: Settings, reference: str) -> SnapshotInfo:
    with _repository(settings) as repository:
        return repository.find(reference)


def restore(settings: Settings, reference: str, target: Path, progress: Progress) -> str:
    keep_large_buffers_in_mmap()
    with _repository(settings) as repository:
        info = repository.find(reference)
        restorer = Restorer(
            repository,
            info.manifest,
            target,
            settings.threads,
            settings.chunk_cache(),
            trust_ownership=settings.trust_ownership,
            snapshot_id=info.id,
        )
        restorer.run(progress)
    return info.id


def prefetch_snapshots(
    settings: Settings,
    references: list[str],
    progress: Progress,
    *,
    require_encrypted: bool = False,
) -> Prefetched:
    """Caches the chunks of these snapshots locally (a warm standby; see prefetch.py)."""
    cache = settings.chunk_cache()
    if cache is None:
        raise SnapshotError("the chunk cache is off ([snapshot] chunk_cache_mib = 0)")
    with _repository(settings) as repository:
        return prefetch(
            repository,
            references,
            cache,
            settings.threads,
            progress,
            require_encrypted=require_encrypted,
        )


def check(settings: Settings, *, read_data: bool, progress: Progress) -> VerifyReport:
    with _repository(settings) as repository:
        return verify(repository, read_data=read_data, threads=settings.threads, progress=progress)


def forget(
    settings: Settings, references: list[str], policy: RetentionPolicy, *, dry_run: bool
) -> list[str]:
    """Deletes the manifests named or not kept by `policy`; returns their ids.

    An unreadable snapshot goes only when named: retention cannot tell its time or group,
    so `policy` leaves it, with a warning.
    """
    with _repository(settings) as repository:
        listed = repository.catalog()
        snapshots = listed.readable
        doomed = {repository.resolve_in(ref, listed) for ref in references}
        if not policy.empty:
            kept = to_keep(snapshots, policy)
            doomed |= {info.id for info in snapshots if info.id not in kept}
            _warn_unreadable_kept(listed, doomed)
        pinned = listed.pinned() & doomed
        if pinned and references:
            raise SnapshotError(
                f"snapshot {sorted(pinned)[0][:12]} is pinned (keep forever): unpin it first"
            )
        doomed -= pinned
        if not dry_run:
            with locks.hold(repository.store, "shared", "snapshot forget"):
                for snapshot_id in doomed:
                    repository.delete_snapshot(snapshot_id)
        return sorted(doomed)


def _warn_unreadable_kept(listed: Catalog, doomed: set[str]) -> None:
    for bad in listed.unreadable:
        if bad.id not in doomed:
            log.warning(
                "kept unreadable snapshot %s (%s): retention cannot judge it; forget it by"
                " id once you know it is not needed",
                bad.id[:12],
                bad.reason,
            )


def prune_repository(settings: Settings, *, dry_run: bool, wait_s: float) -> PruneReport:
    with (
        _repository(settings) as repository,
        locks.hold(repository.store, "exclusive", "snapshot prune", wait_s=wait_s),
    ):
        return prune(
            repository,
            dry_run=dry_run,
            threads=settings.threads,
            pack_size_bytes=settings.pack_size_bytes,
        )


def unlock(settings: Settings, *, remove_all: bool) -> locks.UnlockReport:
    """Removes stale locks, or with `remove_all` every lock (only when nothing else runs).

    Objects under locks/ that are not lock records go either way (locks.py says why).
    """
    with _repository(settings) as repository:
        if remove_all:
            return locks.remove_all(repository.store)
        return locks.remove_stale(repository.store)


def set_pin(settings: Settings, reference: str, *, pinned: bool) -> str:
    with _repository(settings) as repository:
        snapshot_id = repository.resolve_in(reference, repository.catalog())
        if pinned:
            repository.pin(snapshot_id)
        else:
            repository.unpin(snapshot_id)
        return snapshot_id
