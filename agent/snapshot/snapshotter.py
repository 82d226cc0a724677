"""The snapshot engine as the hibernate trigger uses it: the final incremental snapshot.

Progress goes to the control plane as `snapshot.progress` events (every few seconds) while
the snapshot runs, so an operator watching `torporctl watch` sees bytes, rate and ETA.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import agent_pb2, common_pb2

from ..config import AgentConfig
from . import operations
from .progress import Listener, Progress, Reporter

log = logging.getLogger(__name__)

STREAM_INTERVAL_S = 5.0

Post = Callable[[agent_pb2.AgentMessage], None]


class EngineSnapshotter:
    """`create(tag)` → snapshot id, with `[snapshot]` from the agent's config."""

    def __init__(self, config: AgentConfig, post: Post | None = None) -> None:
        self._config = config
        self._post = post

    def create(self, tag: str) -> str:
        settings = operations.Settings.from_config(self._config)
        progress = Progress("snapshot")
        listeners: list[Listener] = [self._send] if self._post is not None else []
        # not a terminal: the reporter logs, and streams at its own pace
        with Reporter(progress, io.StringIO(), listeners, STREAM_INTERVAL_S):
            snapshot_id, manifest = operations.create(
                settings, progress, tags=[tag], parent=None, keep=False
            )
        log.info(
            "snapshot %s: %d files, %d bytes new in %.1fs",
            snapshot_id[:12],
            manifest.stats.files,
            manifest.stats.bytes_new,
            manifest.stats.duration_s,
        )
        return snapshot_id

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
