"""What fencing does to the host: end the workspace's processes, run the fence hooks, and
the `instance.fenced` event that tells the control plane once a stream is back."""

from __future__ import annotations

import asyncio
import logging
import shlex
import uuid
from pathlib import Path

from torpor.common.timestamps import to_timestamp, utc_now
from torpor.proto.v1 import common_pb2

from ..idle.hooks import run_hook
from .assignment import HeldAssignment
from .settings import FencingSection
from .stop_work import end_workspace_processes

log = logging.getLogger(__name__)


class WorkStopper:
    """Stops the instance's work on this host; safe to call again (finds nothing left)."""

    def __init__(self, workspace: Path | None, section: FencingSection, host: str) -> None:
        self._workspace = workspace
        self._section = section
        self._host = host
        """This host's name (`[agent] name`), for log lines an operator reads fleet-wide."""

    async def stop(self, held: HeldAssignment, reason: str) -> list[int]:
        """Ends the workspace's processes, then runs the hooks; returns the pids ended."""
        ended: list[int] = []
        if self._workspace is None:
            log.warning("host %s: no [snapshot] workspace: no process to end", self._host)
        else:
            where = self._workspace
            ended = await asyncio.to_thread(
                end_workspace_processes, where, self._section.term_grace_s
            )
            log.warning(
                "host %s: ended %d process(es) in %s", self._host, len(ended), self._workspace
            )
        env = {
            "TORPOR_INSTANCE_ID": held.instance_id,
            "TORPOR_EPOCH": str(held.epoch),
            "TORPOR_FENCE_REASON": reason,
        }
        for hook in self._section.hooks:
            failure = await run_hook(shlex.split(hook), self._section.hook_timeout_s, env)
            if failure is not None:
                log.error(
                    "host %s: fence hook %s failed: %s", self._host, failure.hook, failure.reason
                )
        return ended


def fenced_event(held: HeldAssignment, reason: str, ended: list[int]) -> common_pb2.Event:
    """`instance.fenced`: waits in the outbox until a stream is up."""
    return common_pb2.Event(
        id=uuid.uuid4().hex,
        at=to_timestamp(utc_now()),
        severity=common_pb2.SEVERITY_WARNING,
        kind="instance.fenced",
        message=f"instance {held.instance_id} fenced at epoch {held.epoch}: {reason}",
        attributes={
            "instance_id": held.instance_id,
            "epoch": str(held.epoch),
            "reason": reason,
            "processes_ended": str(len(ended)),
        },
    )
