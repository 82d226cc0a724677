"""The agent commands an instance's lifecycle needs, sent with ids the journal chose.

A command whose answer was lost (the stream dropped, the control plane restarted) is sent
again with the same id until `timeout_s` runs out: the agent answers a repeated id with
the result it remembers, or carries on with the one still running, never runs it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import DeadlineExceeded, FailedPrecondition, TorporError, Unavailable
from ..fleet.hub import AgentHub
from ..fleet.schemas import (
    Action,
    Assign,
    Assignment,
    Command,
    CommandResult,
    Fence,
    Hibernate,
    Restore,
    SetIdlePolicy,
    TakeSnapshot,
)
from ..repository_keys.secret import RepositoryKey

log = logging.getLogger(__name__)
RESEND_INTERVAL_S = 0.5
"""How long to wait for a host to come back before sending the same command again."""


class CommandFailed(TorporError):
    """The agent ran the command and answered ok=false; `message` is the agent's reason."""

    code = "failed_precondition"


class Fenced(CommandFailed):
    """The agent refused the command's epoch: a newer placement holds the instance."""


@dataclass(frozen=True)
class Taken:
    """A snapshot an agent wrote."""

    snapshot_id: str
    bytes: int | None = None
    files: int | None = None


class AgentCommands:
    def __init__(self, hub: AgentHub, resend_interval_s: float = RESEND_INTERVAL_S) -> None:
        self._hub = hub
        self._resend_interval_s = resend_interval_s

    async def hibernate(
        self,
        host_id: str,
        command_id: str,
        reason: str,
        grace_s: int | None,
        timeout_s: float,
        *,
        epoch: int = 0,
    ) -> Taken:
        """The final snapshot (warning, grace, hooks first). Raises CommandFailed."""
        action = Hibernate(reason=reason, grace_s=grace_s)
        return _taken(await self.run(host_id, command_id, action, timeout_s, epoch=epoch))

    async def take_snapshot(
        self,
        host_id: str,
        command_id: str,
        reason: str,
        keep_forever: bool,
        timeout_s: float,
        *,
        epoch: int = 0,
    ) -> Taken:
        action = TakeSnapshot(reason=reason, keep_forever=keep_forever)
        return _taken(await self.run(host_id, command_id, action, timeout_s, epoch=epoch))

    async def restore(
        self,
        host_id: str,
        command_id: str,
        snapshot_id: str,
        timeout_s: float,
        repository: str = "",
        *,
        repository_key: RepositoryKey | None = None,
        epoch: int = 0,
    ) -> None:
        action = Restore(snapshot_id, repository, repository_key)
        await self.run(host_id, command_id, action, timeout_s, epoch=epoch)

    async def set_idle_policy(
        self,
        host_id: str,
        command_id: str,
        policy: dict[str, Any],
        timeout_s: float,
        *,
        epoch: int = 0,
    ) -> None:
        action = SetIdlePolicy(policy=policy)
        await self.run(host_id, command_id, action, timeout_s, epoch=epoch)

    async def assign(
        self, host_id: str, command_id: str, assignment: Assignment, timeout_s: float
    ) -> bool:
        """Tells the host which instance and epoch it serves. False when the host is not
        connected now: its next Welcome carries the assignment instead.

        Raises Fenced (the agent holds a newer epoch), CommandFailed, DeadlineExceeded."""
        if not self._hub.is_connected(host_id):
            return False
        action = Assign(assignment)
        await self.run(host_id, command_id, action, timeout_s, epoch=assignment.epoch)
        return True

    def connected(self, host_id: str) -> bool:
        """Whether the host's stream is open now."""
        return self._hub.is_connected(host_id)

    async def fence(self, host_id: str, reason: str, epoch: int, timeout_s: float) -> bool:
        """Tells a replaced host to stop the instance's work; False if it is not connected
        (it is fenced when it says Hello again, or fences itself)."""
        if not self._hub.is_connected(host_id):
            return False
        await self.run(host_id, f"fence-{host_id}-{epoch}", Fence(reason, epoch), timeout_s)
        return True

    async def run(
        self, host_id: str, command_id: str, action: Action, timeout_s: float, *, epoch: int = 0
    ) -> CommandResult:
        """The result of `action`, resent with the same id through disconnections.

        Raises Fenced (the agent refused the epoch), CommandFailed (the agent said no),
        DeadlineExceeded (no answer in time)."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            command = Command(action, id=command_id, epoch=epoch)
            try:
                result = await self._hub.send_command(host_id, command, left)
            except (Unavailable, FailedPrecondition) as err:  # not connected, or it dropped
                log.info("command %s to host %s: %s; resending", command_id, host_id, err)
                await asyncio.sleep(min(self._resend_interval_s, max(left, 0)))
                continue
            if result.fenced:
                raise Fenced(result.error or f"host {host_id} refused epoch {epoch}: fenced")
            if not result.ok:
                raise CommandFailed(result.error or "the agent refused without a reason")
            return result
        raise DeadlineExceeded(f"host {host_id} did not answer command {command_id} in time")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _taken(result: CommandResult) -> Taken:
    if not result.snapshot_id:
        raise CommandFailed("the agent answered without a snapshot id")
    outputs = result.outputs
    return Taken(result.snapshot_id, _int(outputs.get("bytes")), _int(outputs.get("files")))
