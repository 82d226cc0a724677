"""Watches the configured source and tells the control plane, once per stream.

The notice goes out as `AgentMessage.preemption_notice` when first seen (if a stream is
up) and again on every new stream until its deadline has passed: the control plane may
have missed it in a reconnect, and it needs it to take the last snapshot in time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from torpor.common.timestamps import to_timestamp
from torpor.proto.v1 import agent_pb2

from ..clock import Clock, SystemClock
from ..outbox import Outbox
from .base import Notice, PreemptionSource
from .file import FileSource
from .imds import ImdsSource
from .settings import PreemptionSection
from .signals import SignalSource

log = logging.getLogger(__name__)


def source_of(section: PreemptionSection) -> PreemptionSource | None:
    """The configured source; None for `none`."""
    if section.source == "aws-imds":
        return ImdsSource(section.imds_url)
    if section.source == "file":
        assert section.path is not None  # the section's validator checks it
        return FileSource(section.path, section.notice_s)
    if section.source == "signal":
        return SignalSource(section.signal, section.notice_s)
    return None


class PreemptionWatcher:
    """Polls one source until it gives a notice, then repeats the notice to new streams."""

    def __init__(
        self,
        source: PreemptionSource,
        outbox: Outbox,
        poll_s: float,
        clock: Clock | None = None,
    ) -> None:
        self._source = source
        self._outbox = outbox
        self._poll_s = poll_s
        self._clock = clock or SystemClock()
        self._linked = False
        self.notice: Notice | None = None

    async def run(self) -> None:
        while self.notice is None:
            try:
                notice = await asyncio.to_thread(self._source.poll)
            except OSError as error:
                log.warning("preemption source %s unreadable: %s", self._source.name, error)
                notice = None
            if notice is not None:
                self._noticed(notice)
                return
            await self._clock.sleep(self._poll_s)

    def on_link(self, up: bool) -> None:
        """A new stream hears the notice again while its deadline is ahead."""
        self._linked = up
        if up and self.notice is not None and self.notice.deadline > self._now():
            self._send(self.notice)

    def _noticed(self, notice: Notice) -> None:
        self.notice = notice
        left_s = (notice.deadline - self._now()).total_seconds()
        log.warning(
            "PREEMPTION NOTICE from %s: this host goes away at %s (in %.0f s): %s",
            notice.source,
            notice.deadline.isoformat(),
            left_s,
            notice.detail,
        )
        if self._linked:
            self._send(notice)

    def _send(self, notice: Notice) -> None:
        message = agent_pb2.PreemptionNotice(
            deadline=to_timestamp(notice.deadline), source=notice.source, detail=notice.detail
        )
        self._outbox.put(agent_pb2.AgentMessage(preemption_notice=message))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)
