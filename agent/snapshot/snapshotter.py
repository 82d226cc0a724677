"""The snapshot engine as the daemon uses it: the hibernate snapshot, manual snapshots and
restores, one at a time.

Progress goes to the control plane as `snapshot.progress` events (every few seconds) while
an operation runs, so an operator watching `torporctl watch` sees bytes, rate and ETA.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import agent_pb2, common_pb2

from ..config import AgentConfig
from . import assigned, operations
from .crypto import KeyFile
from .engine import Restored, Taken
from .into_workspace import restore_into_workspace
from .placement import Placement
from .prefetch import Prefetched
from .progress import Listener, Progress, Reporter
from .tenancy import CacheTenancy

log = logging.getLogger(__name__)

STREAM_INTERVAL_S = 5.0

Post = Callable[[agent_pb2.AgentMessage], None]


class EngineSnapshotter:
    """The SnapshotEngine over `[snapshot]` of the agent's config.

    One lock serialises every operation: a manual snapshot must not race the hibernate
    snapshot, and a restore must not run while the workspace is being read.
    """

    def __init__(
        self,
        config: AgentConfig,
        post: Post | None = None,
        placement: Placement | None = None,
        tenancy: CacheTenancy | None = None,
    ) -> None:
        self._config = config
        self._post = post
        self._placement = placement
        self._tenancy = tenancy
        self._lock = threading.Lock()

    def create(self, tag: str) -> Taken:
        return self.take([tag], keep=False)

    def take(self, tags: list[str], *, keep: bool) -> Taken:
        placement = self._placement
        settings = self._settings()
        guard = placement.commit_guard() if placement is not None else None
        with self._lock, self._reporting("snapshot") as progress:
            snapshot_id, manifest = operations.create(
                settings, progress, tags=tags, parent=None, keep=keep, guard=guard
            )
        stats = manifest.stats
        log.info(
            "snapshot %s: %d files, %d bytes new in %.1fs",
            snapshot_id[:12],
            stats.files,
            stats.bytes_new,
            stats.duration_s,
        )
        return Taken(snapshot_id, stats.files, stats.bytes, stats.bytes_new, stats.duration_s)

    def restore(self, reference: str, repository: str = "", key: bytes = b"") -> Restored:
        """`repository` (a Restore command's) overrides the assignment's and the config's;
        `key` is its key secret (empty: the assignment's, or none)."""
        settings = self._settings(repository, key)
        with self._lock, self._reporting("restore") as progress:
            started = time.monotonic()
            settings = self._only_tenant_cached(settings)
            snapshot_id = restore_into_workspace(settings, reference, progress)
            seconds = time.monotonic() - started
            if repository:  # the workspace is now that repository's: snapshot there
                assigned.adopt(self._config, repository, key)
        log.info("restored snapshot %s in %.1fs", snapshot_id[:12], seconds)
        return Restored(snapshot_id, progress.total_files, progress.total_bytes, seconds)

    def prefetch(
        self,
        references: list[str],
        repository: str = "",
        key: bytes = b"",
        *,
        instance_id: str = "",
        require_encrypted: bool = False,
    ) -> Prefetched:
        """Into `instance_id`'s cache partition; refused once this host serves another
        (checked under the lock: a restore that cleared the cache before may have run)."""
        settings = self._settings(repository, key)
        with self._lock, self._reporting("prefetch") as progress:
            if self._tenancy is not None:
                self._tenancy.refuse_unless_mine(instance_id)
                settings = self._tenancy.settings_for(settings, instance_id)
            started = time.monotonic()
            done = operations.prefetch_snapshots(
                settings, references, progress, require_encrypted=require_encrypted
            )
            seconds = time.monotonic() - started
        log.info(
            "prefetched %d chunk(s) of %s: %d bytes downloaded in %.1fs",
            done.chunks - done.already_cached,
            ",".join(i[:12] for i in done.snapshot_ids),
            done.fetched_bytes,
            seconds,
        )
        return replace(done, seconds=seconds)

    def _only_tenant_cached(self, settings: operations.Settings) -> operations.Settings:
        """Before a restore writes the workspace: everything cached for other instances
        is deleted (a prefetch, which holds the same lock, cannot be running), and the
        restore reads the tenant's own partition."""
        if self._tenancy is None:
            return settings
        tenant = self._tenancy.tenant
        self._tenancy.claim(tenant)
        return self._tenancy.settings_for(settings, tenant or "")

    def _settings(self, repository: str = "", key: bytes = b"") -> operations.Settings:
        """`[snapshot]` on the repository named here, else the assignment's, else the one
        a restore adopted, else the configured one; each with its own key secret."""
        if not repository and self._placement is not None:
            repository = self._placement.repository() or ""
            key = key or self._placement.repository_key()
        if not repository:
            repository = assigned.repository(self._config)
            key = key or (assigned.repository_key(self._config) if repository else b"")
        settings = operations.Settings.from_config(
            self._config, repository=repository or None, key=KeyFile(key) if key else None
        )
        tenant = self._tenancy.tenant if self._tenancy is not None else None
        if self._tenancy is not None and tenant:  # snapshots cache into the tenant's partition
            return self._tenancy.settings_for(settings, tenant)
        return settings

    @contextmanager
    def _reporting(self, operation: str) -> Iterator[Progress]:
        """A Progress shown for one operation (not a terminal: the reporter logs, and
        streams at its own pace)."""
        progress = Progress(operation)
        listeners: list[Listener] = [self._send] if self._post is not None else []
        with Reporter(progress, io.StringIO(), listeners, STREAM_INTERVAL_S):
            yield progress

    def _send(self, progress: Progress) -> None:
        assert self._post is not None
        event = common_pb2.Event(
            id=uuid.uuid4().hex,
            at=to_timestamp(utc_now()),
            severity=common_pb2.SEVERITY_INFO,
            kind="snapshot.progress",
            message=progress.line(),
            attributes=progress.fields(),
        )
        self._post(agent_pb2.AgentMessage(event=event))
